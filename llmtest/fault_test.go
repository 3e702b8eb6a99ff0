package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Fault
		err  bool
	}{
		{spec: "", want: Fault{}},
		{spec: "latency=50ms, ttft=20ms ,per_token=1ms", want: Fault{Latency: 50 * time.Millisecond, TTFT: 20 * time.Millisecond, PerToken: time.Millisecond}},
		{spec: "status=429,retry_after=2", want: Fault{Status: 429, RetryAfter: 2 * time.Second}},
		{spec: "status=503,retry_after=1.5,times=2", want: Fault{Status: 503, RetryAfter: 1500 * time.Millisecond, Times: 2}},
		{spec: "retry_after=250ms", want: Fault{RetryAfter: 250 * time.Millisecond}},
		{spec: "cut_after=5,malformed_after=3", want: Fault{CutAfter: 5, MalformedAfter: 3}},
		{spec: "status=200", err: true},
		{spec: "status=abc", err: true},
		{spec: "cut_after=0", err: true},
		{spec: "latency=-1s", err: true},
		{spec: "latency", err: true},
		{spec: "latency=", err: true},
		{spec: "speed=fast", err: true},
		{spec: "times=1,times=2", err: true},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseFault(tc.spec)
			if tc.err {
				if !errors.Is(err, ErrBadFault) || !strings.HasPrefix(err.Error(), "llmtest: ") {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%+v %v, want %+v", got, err, tc.want)
			}
			back, err := ParseFault(got.String())
			if err != nil || back != got {
				t.Fatalf("String %q parses to %+v %v", got.String(), back, err)
			}
		})
	}
}

const hello = `{"model":"llmtest-1","messages":[{"role":"user","content":"Hello!"}],"seed":1,"max_tokens":6}`
const helloStream = `{"model":"llmtest-1","messages":[{"role":"user","content":"Hello!"}],"seed":1,"max_tokens":6,"stream":true}`

func TestFaultStatus(t *testing.T) {
	cfg, fs := testConfig()
	cfg.Fault = Fault{Status: 503, Latency: time.Second}
	h := Handler(cfg)
	for _, tc := range []struct {
		name, header       string
		status             int
		typ, code          string
		retryAfter, retryM string
	}{
		{"config fault", "", 503, wire.TypeServer, "", "", ""},
		{"429 default retry", "status=429", 429, wire.TypeRequests, wire.CodeRateLimitExceeded, "1", "1000"},
		{"429 fractional", "status=429,retry_after=1.2", 429, wire.TypeRequests, wire.CodeRateLimitExceeded, "2", "1200"},
		{"500", "status=500", 500, wire.TypeServer, "", "", ""},
		{"503 retry", "status=503,retry_after=3", 503, wire.TypeServer, "", "3", "3000"},
		{"400", "status=400", 400, wire.TypeInvalidRequest, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{FaultHeader, tc.header}
			}
			w := do(t, h, "POST", "/v1/chat/completions", hello, hdr...)
			e, ok := wire.DecodeError(w.Code, w.Body.Bytes())
			if w.Code != tc.status || !ok || e.Type != tc.typ || e.Code != tc.code {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if w.Header().Get("Retry-After") != tc.retryAfter || w.Header().Get("Retry-After-Ms") != tc.retryM {
				t.Fatalf("retry headers %v", w.Header())
			}
		})
	}
	if fs.delays[0] != time.Second {
		t.Fatalf("config latency not applied: %v", fs.delays)
	}
	// An empty header replaces the config fault: no fault at all.
	if w := do(t, h, "POST", "/v1/chat/completions", hello, FaultHeader, ""); w.Code != 200 {
		t.Fatalf("empty fault header: %d %s", w.Code, w.Body)
	}
}

func TestFaultTimes(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	var codes []int
	for range 4 {
		codes = append(codes, do(t, h, "POST", "/v1/chat/completions", hello, FaultHeader, "status=503,times=2").Code)
	}
	codes = append(codes, do(t, h, "POST", "/v1/chat/completions", hello, FaultHeader, "status=500,times=1").Code)
	if want := []int{503, 503, 200, 200, 500}; !equalInts(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultDelays(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name, body string
		want       []time.Duration
	}{
		// 6 tokens: latency, ttft, then per_token before each token chunk.
		{"stream", helloStream, []time.Duration{50 * ms, 20 * ms, ms, ms, ms, ms, ms, ms}},
		// Not streamed: latency, ttft, then per_token × completion tokens.
		{"json", hello, []time.Duration{50 * ms, 20 * ms, 6 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, fs := testConfig()
			h := Handler(cfg)
			w := do(t, h, "POST", "/v1/chat/completions", tc.body, FaultHeader, "latency=50ms,ttft=20ms,per_token=1ms")
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if !equalDurations(fs.delays, tc.want) {
				t.Fatalf("delays %v, want %v", fs.delays, tc.want)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultDelayRespectsContext(t *testing.T) {
	h := Handler(Config{}) // the real sleeper
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, _ := http.NewRequestWithContext(ctx, "POST", "/v1/chat/completions", strings.NewReader(hello))
	r.Header.Set(FaultHeader, "latency=1h")
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	if time.Since(start) > 10*time.Second || w.Body.Len() != 0 {
		t.Fatalf("a cancelled request waited or was answered: %q", w.Body)
	}
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx: %v", err)
	}
	if err := sleepCtx(context.Background(), time.Microsecond); err != nil {
		t.Fatalf("sleepCtx: %v", err)
	}
}

func TestFaultMalformed(t *testing.T) {
	cfg, _ := testConfig()
	h := Handler(cfg)
	w := do(t, h, "POST", "/v1/chat/completions", helloStream, FaultHeader, "malformed_after=2")
	events := sseEvents(t, w.Body.Bytes())
	// role, 2 tokens, the malformed event, 4 tokens, finish, [DONE]
	if len(events) != 10 || !strings.HasSuffix(string(events[3]), `"content":"`) || string(events[9]) != "[DONE]" {
		t.Fatalf("%d events: %s", len(events), w.Body)
	}
	w = do(t, h, "POST", "/v1/chat/completions", hello, FaultHeader, "malformed_after=1")
	if w.Code != 200 || w.Body.Len() == 0 || !strings.HasPrefix(w.Body.String(), "{") || json.Valid(w.Body.Bytes()) {
		t.Fatalf("non-stream malformed: %s", w.Body)
	}
}

func TestFaultCut(t *testing.T) {
	cfg, _ := testConfig()
	srv := NewServer(cfg)
	defer srv.Close()
	for _, tc := range []struct{ name, body string }{{"stream", helloStream}, {"json", hello}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			req.Header.Set(FaultHeader, "cut_after=2")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("no read error; body %s", body)
			}
			if tc.name == "stream" {
				events := sseEvents(t, body)
				if len(events) != 3 || strings.Contains(string(body), "[DONE]") { // role + 2 tokens
					t.Fatalf("%d events before the cut: %s", len(events), body)
				}
			}
		})
	}
}
