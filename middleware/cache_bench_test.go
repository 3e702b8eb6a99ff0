package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/cache"
)

// cacheBenchRequest is a reproducible chat request of about 1 KiB.
const cacheBenchRequest = `{"model":"gpt-4o-mini","temperature":0,"seed":42,"max_tokens":512,` +
	`"messages":[{"role":"system","content":"You are a concise assistant. Answer in one short paragraph and cite no sources."},` +
	`{"role":"user","content":"What is the capital of France, and why did it become the capital? Please keep it short."},` +
	`{"role":"assistant","content":"Paris. It grew around the Ile de la Cite, was the seat of the Capetian kings from the 10th century, and stayed the centre of administration, trade and culture."},` +
	`{"role":"user","content":"And what about Germany? Give the year the capital moved, and the city it moved from."}],` +
	`"tools":[{"type":"function","function":{"name":"lookup_capital","description":"Look up the capital city of a country.",` +
	`"parameters":{"type":"object","properties":{"country":{"type":"string","description":"Country name in English"},` +
	`"as_of_year":{"type":"integer","minimum":1000,"maximum":2100}},"required":["country"],"additionalProperties":false}}}],` +
	`"tool_choice":"auto"}`

// cacheBench2K returns a 2 KiB chat completion body and the same answer as
// a stream of about 40 events.
func cacheBench2K(b *testing.B) (body []byte, events []string) {
	content := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)[:1700]
	body = fmt.Appendf(nil, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":20,"completion_tokens":400,"total_tokens":420}}`, content)
	events = append(events, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`)
	for i := 0; i < len(content); i += 45 {
		events = append(events, fmt.Sprintf(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content[i:min(i+45, len(content))]))
	}
	events = append(events, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]")
	return body, events
}

// benchWriter is a lean reusable http.ResponseWriter, as net/http's own
// pooled response writer is: its header map is cleared and its body
// buffer reused between requests. It flushes (a no-op) so that streams
// replay through it as through a server's writer.
type benchWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func (w *benchWriter) Flush() {}

// reset readies w for the next request.
func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.body = 0, w.body[:0]
}

// BenchmarkCacheHit serves an in-memory hit of a 2 KiB response through
// the Cache layer alone (the Call decoded once beforehand, the tap left
// out): key computation of the 1 KiB request, the plan, the store lookup
// and the write. Each variant writes to a lean reusable ResponseWriter
// (benchWriter) and, suffixed /recorder, to a new
// httptest.ResponseRecorder per request, whose own cost (a header map, a
// body buffer, a result snapshot) is most of a small request's. The
// baselines are a handler writing the same 2 KiB to the same writers.
func BenchmarkCacheHit(b *testing.B) {
	body, events := cacheBench2K(b)
	cc, err := NewCache(CacheConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()

	// Decode the request once, as the chain would, to get its Call.
	var proto *Call
	Decode(DecodeConfig{})(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		proto = CallFrom(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), cacheBenchPost(cacheBenchRequest))
	if proto == nil {
		b.Fatal("request did not decode")
	}
	proto.Principal = &Principal{KeyID: "alice"}
	proto.Model = "gpt-4o-mini"
	scope := cache.NewScope(cache.ScopeKey, "alice", "")
	key, err := cache.ComputeKey(cache.KeyInput{Endpoint: proto.Endpoint.Path(), Model: proto.Model, Scope: scope, Body: proto.Raw})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	jsonEntry, err := cache.NewBodyEntry(cache.KindChat, 200, body, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	var rec cache.Recorder
	for _, ev := range events {
		rec.Add([]byte(ev))
	}
	streamEntry, err := rec.Finish(200, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	h := cc.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { b.Fatal("the handler ran on a hit") }))

	run := func(b *testing.B, e *cache.Entry, stream, recorder bool) {
		if err := cc.store.Set(ctx, key, e, time.Hour); err != nil {
			b.Fatal(err)
		}
		c := *proto
		c.Stream = stream
		req := cacheBenchPost(cacheBenchRequest).WithContext(WithCall(ctx, &c))
		lean := &benchWriter{h: http.Header{}}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			c.CacheStatus, c.SavedCost, c.observers = "", 0, c.observers[:0]
			var w http.ResponseWriter = lean
			if recorder {
				w = httptest.NewRecorder()
			} else {
				lean.reset()
			}
			h.ServeHTTP(w, req)
			if c.CacheStatus != CacheHit {
				b.Fatalf("x-cache %q", w.Header().Get("x-cache"))
			}
		}
		cpu.report(b)
	}
	for _, v := range []struct {
		name   string
		e      *cache.Entry
		stream bool
	}{{"json", jsonEntry, false}, {"stream-to-json", streamEntry, false}, {"stream", streamEntry, true}, {"json-to-stream", jsonEntry, true}} {
		b.Run(v.name, func(b *testing.B) { run(b, v.e, v.stream, false) })
		b.Run(v.name+"/recorder", func(b *testing.B) { run(b, v.e, v.stream, true) })
	}
	direct := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	b.Run("baseline=direct-write", func(b *testing.B) {
		req := cacheBenchPost(cacheBenchRequest)
		lean := &benchWriter{h: http.Header{}}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			lean.reset()
			direct.ServeHTTP(lean, req)
		}
		cpu.report(b)
	})
	b.Run("baseline=direct-write/recorder", func(b *testing.B) {
		req := cacheBenchPost(cacheBenchRequest)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			direct.ServeHTTP(httptest.NewRecorder(), req)
		}
		cpu.report(b)
	})
}

func cacheBenchPost(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}
