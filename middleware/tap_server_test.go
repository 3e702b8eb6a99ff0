package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llmgate/llmgate/wire"
)

// Tests of the response tap on real servers: a client reading the stream,
// a client going away, and httputil.ReverseProxy as the handler.

// TestTapStream1000 streams 1,000 chunks in writes split at random
// positions through a real server, the handler never flushing and waiting
// after each write until the client has read every event it completed.
func TestTapStream1000(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			stream := newTapStream(1000)
			rng := rand.New(rand.NewPCG(seed, 99))
			cuts := append(randomCuts(rng, len(stream.bytes), 400), len(stream.bytes))
			acks := make(chan int)
			var log tapLog
			ended := make(chan struct{})
			srv := httptest.NewServer(tapped(EndpointChatCompletions, &log, func(w http.ResponseWriter, r *http.Request) {
				defer close(ended)
				w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
				prev, k := 0, 0
				for _, cut := range cuts {
					if _, err := w.Write(stream.bytes[prev:cut]); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					prev = cut
					for ; k < len(stream.ends) && stream.ends[k] <= cut; k++ {
						select {
						case got := <-acks:
							if got != k {
								t.Errorf("client acknowledged event %d, want %d", got, k)
								return
							}
						case <-ctx.Done():
							t.Errorf("event %d was not delivered before the next write", k)
							return
						}
					}
				}
			}))
			defer srv.Close()

			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rd := wire.NewReader(resp.Body)
			for k := 0; ; k++ {
				e, err := rd.Next()
				if err == io.EOF {
					if k != len(stream.datas) {
						t.Fatalf("client read %d events, want %d", k, len(stream.datas))
					}
					break
				}
				if err != nil {
					t.Fatalf("client: event %d: %v", k, err)
				}
				if string(e.Data) != stream.datas[k] {
					t.Fatalf("client: event %d = %q, want %q", k, e.Data, stream.datas[k])
				}
				select {
				case acks <- k:
				case <-ctx.Done():
					t.Fatalf("handler stopped before event %d was acknowledged", k)
				}
			}
			<-ended
			srv.Close()

			if len(log.chunks) != len(stream.datas) {
				t.Fatalf("observer saw %d chunks, want %d", len(log.chunks), len(stream.datas))
			}
			for i := range 1000 {
				ch := log.chunks[i]
				if ch.err != nil || ch.data != stream.datas[i] || ch.content != fmt.Sprintf("tok%d ", i) || ch.usage != nil {
					t.Fatalf("chunk %d = %+v", i, ch)
				}
			}
			if u := log.chunks[1000].usage; u == nil || u.CompletionTokens != 1000 {
				t.Fatalf("usage chunk = %+v", log.chunks[1000])
			}
			if !log.chunks[1001].done {
				t.Fatalf("last chunk is not [DONE]: %+v", log.chunks[1001])
			}
			if len(log.ends) != 1 || len(log.statuses) != 1 || log.statuses[0] != http.StatusOK {
				t.Fatalf("OnEnd %d times, OnHeader %v", len(log.ends), log.statuses)
			}
			res := log.ends[0]
			want := wire.Usage{PromptTokens: 12, CompletionTokens: 1000, TotalTokens: 1012}
			if res.Usage == nil || res.Usage.PromptTokens != want.PromptTokens || res.Usage.TotalTokens != want.TotalTokens ||
				res.Usage.ReasoningTokens() != 3 {
				t.Errorf("Response.Usage = %+v, want %+v", res.Usage, want)
			}
			if !res.Stream || !res.Done || res.Events != 1001 || res.Err != nil || res.Written != int64(len(stream.bytes)) || res.Body != nil {
				t.Errorf("Response = %+v", res)
			}
		})
	}
}

// TestTapReverseProxy puts the tap around httputil.ReverseProxy, which
// flushes SSE through http.NewResponseController and panics with
// http.ErrAbortHandler when the upstream stream breaks.
func TestTapReverseProxy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cases := []struct {
		name   string
		breaks bool
	}{{"complete", false}, {"upstream breaks", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				sw := wire.NewWriter(w)
				for i := range 3 {
					_ = sw.WriteData([]byte(chatChunkJSON("c", fmt.Sprint(i))))
				}
				if tc.breaks {
					panic(http.ErrAbortHandler) // the connection is cut mid-stream
				}
				_ = sw.WriteData([]byte(usageChunkJSON))
				_ = sw.WriteDone()
			}))
			defer upstream.Close()
			target, _ := url.Parse(upstream.URL)
			var log tapLog
			ended := make(chan struct{})
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ErrorLog = stdlog.New(io.Discard, "", 0)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c := &Call{Endpoint: EndpointChatCompletions}
				c.Observe(log.observer())
				c.Observe(Observer{OnEnd: func(*Response) { close(ended) }})
				serveTapped(proxy, w, r, c)
			}))
			front.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
			defer front.Close()

			resp, err := front.Client().Post(front.URL, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			events, rerr := 0, error(nil)
			for rd := wire.NewReader(resp.Body); ; events++ {
				if _, rerr = rd.Next(); rerr != nil {
					break
				}
			}
			resp.Body.Close()
			<-ended
			res := log.ends[0]
			if tc.breaks {
				if events != 3 || rerr == io.EOF || !errors.Is(res.Err, ErrHandlerPanicked) || res.Events != 3 || res.Done {
					t.Fatalf("client read %d events (%v); Response = %+v", events, rerr, res)
				}
				return
			}
			if events != 5 || rerr != io.EOF || res.Err != nil || res.Events != 4 || !res.Done || res.Usage == nil {
				t.Fatalf("client read %d events (%v); Response = %+v", events, rerr, res)
			}
		})
	}
}

// TestTapClientGoesAway cancels the client mid-stream on a real server; the
// handler goes on writing, and the tap keeps counting what it writes.
func TestTapClientGoesAway(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	clientCtx, goAway := context.WithCancel(ctx)
	defer goAway()
	var log tapLog
	ended := make(chan struct{})
	srv := httptest.NewServer(tapped(EndpointChatCompletions, &log, func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		for i := range 5 {
			_ = sw.WriteData([]byte(chatChunkJSON("c", fmt.Sprint(i))))
		}
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
			t.Error("the server never saw the client go away")
			return
		}
		var werr error
		for i := 5; i < 25; i++ {
			if err := sw.WriteData([]byte(chatChunkJSON("c", fmt.Sprint(i)))); err != nil && werr == nil {
				werr = err
			}
		}
		_ = sw.WriteData([]byte(usageChunkJSON))
		_ = sw.WriteDone()
		if werr == nil {
			t.Error("writes to a client that went away did not fail")
		}
	}))
	defer srv.Close()

	req, _ := http.NewRequestWithContext(clientCtx, http.MethodPost, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := wire.NewReader(resp.Body)
	for i := range 5 {
		if _, err := rd.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	goAway()
	resp.Body.Close()
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("handler did not finish")
	}
	srv.Close()

	if len(log.ends) != 1 {
		t.Fatalf("OnEnd called %d times", len(log.ends))
	}
	res := log.ends[0]
	if res.Err == nil || res.Events != 26 || !res.Done || res.Usage == nil || res.Usage.CompletionTokens != 1000 {
		t.Fatalf("Response = %+v (err %v)", res, res.Err)
	}
	if len(log.chunks) != 27 || log.chunks[24].content != "24" {
		t.Fatalf("observer saw %d chunks", len(log.chunks))
	}
}

// TestTapFlushesBeforeOnEnd checks that a client has a whole response
// whose length it knows (or that has no body) while OnEnd is still
// running: an observer's bookkeeping, such as a settle on Redis, must not
// delay the answer. The observer waits for the client to have read the
// body; were the response held until the handler returned, neither could
// go on and the test would fail at its deadline. A body of unknown length
// is not flushed early (the client would still wait for the end of the
// chunked body), so net/http still sends it with a Content-Length.
func TestTapFlushesBeforeOnEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const body = `{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	cases := []struct {
		name, method string
		status       int
		length       bool // set Content-Length
		early        bool // the response is flushed before OnEnd
	}{
		{"json with content-length", http.MethodPost, http.StatusOK, true, true},
		{"error with content-length", http.MethodPost, http.StatusTooManyRequests, true, true},
		{"no content", http.MethodPost, http.StatusNoContent, false, true},
		{"head", http.MethodHead, http.StatusOK, false, true},
		{"json of unknown length", http.MethodPost, http.StatusOK, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			read := make(chan struct{})
			var ended *Response
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c := &Call{Endpoint: EndpointChatCompletions}
				c.Observe(Observer{OnEnd: func(res *Response) {
					if tc.early {
						select {
						case <-read:
						case <-ctx.Done():
							t.Error("the client did not have the response while OnEnd ran")
						}
					}
					ended = res
				}})
				serveTapped(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if tc.length {
						w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					}
					w.WriteHeader(tc.status)
					if tc.status != http.StatusNoContent {
						_, _ = io.WriteString(w, body)
					}
				}), w, r, c)
			}))
			defer srv.Close()

			req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL, strings.NewReader("{}"))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			close(read)
			resp.Body.Close()
			srv.Close() // waits for the handler, and so for OnEnd
			want := body
			if tc.method == http.MethodHead || tc.status == http.StatusNoContent {
				want = ""
			}
			if err != nil || string(got) != want || resp.StatusCode != tc.status {
				t.Fatalf("client got %d %q (%v)", resp.StatusCode, got, err)
			}
			if !tc.early && resp.ContentLength != int64(len(body)) {
				t.Fatalf("Content-Length %d, want %d: flushed early, so sent chunked", resp.ContentLength, len(body))
			}
			if ended == nil || ended.Err != nil || ended.Status != tc.status {
				t.Fatalf("OnEnd saw %+v", ended)
			}
			if want != "" && (ended.Usage == nil || ended.Usage.TotalTokens != 3) {
				t.Fatalf("OnEnd saw usage %+v", ended.Usage)
			}
		})
	}
}
