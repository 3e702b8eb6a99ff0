package load

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBody(t *testing.T) {
	for _, size := range []int{300, 1024, 16 << 10} {
		for _, stream := range []bool{false, true} {
			b, seq := Body(Config{BodySize: size, Stream: stream, Unique: true})
			if len(b) != size {
				t.Errorf("size %d stream %v: body is %d bytes", size, stream, len(b))
			}
			var req struct {
				Model    string `json:"model"`
				Stream   bool   `json:"stream"`
				Messages []struct{ Content string }
			}
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatalf("size %d: %v\n%s", size, err, b)
			}
			if req.Model != "gpt-4o-mini" || req.Stream != stream || len(req.Messages) != 2 {
				t.Errorf("size %d: decoded %+v", size, req)
			}
			if string(b[seq:seq+seqDigits]) != "000000000000" {
				t.Errorf("sequence number at %d: %q", seq, b[seq:seq+seqDigits])
			}
		}
	}
	if _, seq := Body(Config{}); seq != -1 {
		t.Errorf("not Unique: sequence offset %d, want -1", seq)
	}
}

func TestStubAnswers(t *testing.T) {
	srv := httptest.NewServer(Stub(StubConfig{Chunks: 3}))
	defer srv.Close()
	post := func(stream bool) (string, string) {
		b, _ := Body(Config{Stream: stream})
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(body)
	}
	ct, body := post(false)
	var answer struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   struct{ PromptTokens, CompletionTokens int } `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || ct != "application/json" {
		t.Fatalf("non-streamed: %s %v %s", ct, err, body)
	}
	if answer.Choices[0].Message.Content != "word0 word1 word2 " {
		t.Errorf("content %q", answer.Choices[0].Message.Content)
	}
	ct, body = post(true)
	events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
	if ct != "text/event-stream" || len(events) != 5 || events[4] != "data: [DONE]" || !strings.Contains(events[3], `"usage":{"prompt_tokens":300,"completion_tokens":3`) {
		t.Errorf("streamed: %s, %d events:\n%s", ct, len(events), body)
	}

	// Chunked: the same JSON answer, without a Content-Length.
	chunked := httptest.NewServer(Stub(StubConfig{Chunks: 3, Chunked: true}))
	defer chunked.Close()
	b, _ := Body(Config{})
	resp, err := http.Post(chunked.URL+"/v1/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if _, want := post(false); resp.ContentLength != -1 || string(got) != want {
		t.Errorf("chunked: Content-Length %d, body %s, want none and %s", resp.ContentLength, got, want)
	}
}

// TestSmoke runs the stub, the bare proxy in front of it and the load
// generator in-process, streamed and not, and checks that every request
// was answered and measured. It asserts no timings.
func TestSmoke(t *testing.T) {
	stub := httptest.NewServer(Stub(StubConfig{}))
	defer stub.Close()
	u, _ := url.Parse(stub.URL)
	bare := httptest.NewServer(Bare(u))
	defer bare.Close()
	for _, stream := range []bool{false, true} {
		res, err := Run(context.Background(), Config{URL: bare.URL + "/v1/chat/completions", Concurrency: 4,
			Requests: 200, Duration: 5 * time.Second, Warmup: 2, RampUp: 20 * time.Millisecond, Stream: stream, Unique: true, Keys: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Requests == 0 || res.Requests > 200 || res.Latency.Count() != res.Requests {
			t.Fatalf("stream %v: %d requests, %d errors (%s), %d latencies", stream, res.Requests, res.Errors, res.FirstError, res.Latency.Count())
		}
		if stream && res.FirstByte.Count() != res.Requests {
			t.Errorf("streamed: %d first-byte times for %d requests", res.FirstByte.Count(), res.Requests)
		}
		if !stream && res.FirstByte.Count() != 0 {
			t.Errorf("non-streamed: %d first-byte times", res.FirstByte.Count())
		}
		if res.Latency.Quantile(0.5) <= 0 || res.RPS() <= 0 || res.BytesIn == 0 {
			t.Errorf("stream %v: p50 %v, %v req/s, %d bytes", stream, res.Latency.Quantile(0.5), res.RPS(), res.BytesIn)
		}
	}
}

func TestRunCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusTooManyRequests)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Requests: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 5 || res.Status[429] != 5 || !strings.Contains(res.FirstError, "429") {
		t.Errorf("got %+v", res)
	}
	if _, err := Run(context.Background(), Config{URL: srv.URL}); err == nil {
		t.Error("an unbounded run was accepted")
	}
}
