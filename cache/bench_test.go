package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process used so far; on a loaded
// machine it is a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric cpu-ns/op: the CPU time used since start per
// iteration.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// hit2K returns a 2 KiB chat completion body and the same answer as a
// recorded stream of about 40 events.
func hit2K(b *testing.B) (body, stream *Entry) {
	content := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)[:1700]
	js := fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":20,"completion_tokens":400,"total_tokens":420}}`, content)
	body, err := NewBodyEntry(KindChat, 200, []byte(js), t0)
	if err != nil {
		b.Fatal(err)
	}
	var r Recorder
	r.Add([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`))
	for i := 0; i < len(content); i += 45 {
		r.Add(fmt.Appendf(nil, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content[i:min(i+45, len(content))]))
	}
	r.Add([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`))
	r.Add([]byte("[DONE]"))
	stream, err = r.Finish(200, nil, t0)
	if err != nil {
		b.Fatal(err)
	}
	return body, stream
}

// BenchmarkHitServed measures the cache's part of serving an in-memory
// hit: MemoryStore.Get and writing the entry out (a JSON body, or a
// stream replayed event by event). The baseline is a mutex-guarded map
// lookup and one Write of the same body.
func BenchmarkHitServed(b *testing.B) {
	ctx := context.Background()
	body, stream := hit2K(b)
	s, _ := NewMemoryStore(MemoryConfig{})
	defer s.Close()
	kb, ks := keyN(1), keyN(2)
	_ = s.Set(ctx, kb, body, time.Hour)
	_ = s.Set(ctx, ks, stream, time.Hour)
	for i := 3; i < 10000; i++ { // a populated cache
		_ = s.Set(ctx, keyN(i), bodyEntry(100), time.Hour)
	}
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(body.Body)))
		b.ReportAllocs()
		for b.Loop() {
			e, ok, err := s.Get(ctx, kb)
			if !ok || err != nil {
				b.Fatal(ok, err)
			}
			out, _ := e.JSON()
			_, _ = io.Discard.Write(out)
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e, ok, err := s.Get(ctx, ks)
			if !ok || err != nil {
				b.Fatal(ok, err)
			}
			evs, _ := e.StreamEvents(false)
			if err := Replay(ctx, io.Discard, func() error { return nil }, evs, Pacing{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-to-stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e, _, _ := s.Get(ctx, kb)
			evs, _ := e.StreamEvents(true)
			_ = Replay(ctx, io.Discard, nil, evs, Pacing{})
		}
	})
	b.Run("stream-to-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e, _, _ := s.Get(ctx, ks)
			out, _ := e.JSON()
			_, _ = io.Discard.Write(out)
		}
	})
	b.Run("baseline=map-write", func(b *testing.B) {
		var mu sync.Mutex
		m := map[Key]*Entry{kb: body}
		b.SetBytes(int64(len(body.Body)))
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			e := m[kb]
			mu.Unlock()
			_, _ = io.Discard.Write(e.Body)
		}
	})
}

func BenchmarkRedis(b *testing.B) {
	c, prefix := testRedis(b)
	ctx := context.Background()
	s, _ := NewRedisStore(RedisConfig{Client: c, Prefix: prefix})
	body, _ := hit2K(b)
	k := keyN(1)
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, k, body, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := s.Get(ctx, k); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("baseline=raw-get", func(b *testing.B) {
		raw := prefix + "raw"
		_ = c.Set(ctx, raw, body.Body, time.Minute)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Get(ctx, raw).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = c.Del(ctx, prefix+k.String(), prefix+"raw")
}

// BenchmarkNewBodyEntry measures checking a 2 KiB chat completion for
// storing (a miss's cost at the end of the response). The baseline is
// json.Valid over the same body: any check must at least read it once.
func BenchmarkNewBodyEntry(b *testing.B) {
	body, _ := hit2K(b)
	b.Run("chat-2KiB", func(b *testing.B) {
		b.SetBytes(int64(len(body.Body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewBodyEntry(KindChat, 200, body.Body, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body.Body)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body.Body) {
				b.Fatal("invalid")
			}
		}
	})
}

// BenchmarkConvert is the cost of a conversion itself, made once per
// entry and then kept (BenchmarkHitServed's json-to-stream and
// stream-to-json serve the kept one).
func BenchmarkConvert(b *testing.B) {
	body, stream := hit2K(b)
	b.Run("stream-to-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stream.mergeJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same stream ending in a usage chunk, as include_usage asks.
	var r Recorder
	for _, ev := range stream.Events {
		r.Add(ev)
	}
	r.Add([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":400,"total_tokens":420}}`))
	r.Add([]byte("[DONE]"))
	withUsage, err := r.Finish(200, nil, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stream-with-usage-to-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := withUsage.mergeJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-to-stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := body.streamEvents(true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
