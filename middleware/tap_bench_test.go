package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// tapDiscard is a ResponseWriter that discards what it gets and can flush.
type tapDiscard struct{ h http.Header }

func (w *tapDiscard) Header() http.Header         { return w.h }
func (w *tapDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (w *tapDiscard) WriteHeader(int)             {}
func (w *tapDiscard) Flush()                      {}

// BenchmarkTapStream measures the tap's cost per streamed chunk: one
// request streams b.N chunks. "direct" is the same handler without the tap,
// flushing each event itself as a streaming handler must.
func BenchmarkTapStream(b *testing.B) {
	event := []byte("data: " + chatChunkJSON("chatcmpl-AbCdEf0123456789", "hello") + "\n\n")
	stream := func(n int, flush bool, ev []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			for range n {
				_, _ = w.Write(ev)
				if flush {
					f.Flush()
				}
			}
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(event)))
		stream(b.N, true, event).ServeHTTP(&tapDiscard{h: http.Header{}}, req)
	})
	b.Run("tap-no-observer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(event)))
		serveTapped(stream(b.N, false, event), &tapDiscard{h: http.Header{}}, req, &Call{Endpoint: EndpointChatCompletions})
	})
	b.Run("json.Unmarshal", func(b *testing.B) { // decoding one chunk alone, for scale
		b.ReportAllocs()
		b.SetBytes(int64(len(event)))
		data := event[len("data: ") : len(event)-2]
		for b.Loop() {
			var ch wire.ChatCompletionChunk
			if err := json.Unmarshal(data, &ch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tap-observer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(event)))
		c := &Call{Endpoint: EndpointChatCompletions}
		c.Observe(Observer{OnChunk: func(*Chunk) {}, OnEnd: func(*Response) {}})
		serveTapped(stream(b.N, false, event), &tapDiscard{h: http.Header{}}, req, c)
	})
	// Count's observer counting the deltas of a stream without usage, as
	// it does for an upstream that ignores include_usage: content deltas,
	// and reasoning_content deltas (what a reasoning model on vLLM,
	// llama.cpp or DeepSeek streams before its answer).
	enc, err := tokens.Get("o200k_base")
	if err != nil {
		b.Fatal(err)
	}
	content := []byte("data: " + chatChunkJSON("chatcmpl-AbCdEf0123456789", " hello") + "\n\n")
	reasoning := bytes.Replace(content, []byte(`"content":" hello"`), []byte(`"reasoning_content":" hmm,"`), 1)
	for _, bc := range []struct {
		name  string
		event []byte
	}{{"tap-count", content}, {"tap-count-reasoning", reasoning}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.event)))
			c := &Call{Endpoint: EndpointChatCompletions, Encoding: enc}
			c.Observe(usageObserver(c))
			serveTapped(stream(b.N, false, bc.event), &tapDiscard{h: http.Header{}}, req, c)
		})
	}
}

// BenchmarkTapJSON measures the tap's cost per non-streamed response of
// about 1 KiB. "direct" is the same handler without the tap.
func BenchmarkTapJSON(b *testing.B) {
	body := []byte(strings.Replace(chatCompletionJSON, `"hi"`, fmt.Sprintf("%q", strings.Repeat("word ", 150)), 1))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	w := &tapDiscard{h: http.Header{}}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("tap-observer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			c := &Call{Endpoint: EndpointChatCompletions}
			c.Observe(Observer{OnEnd: func(*Response) {}})
			serveTapped(h, w, req, c)
		}
	})
	// Count's observer counting the completion of a body without usage.
	enc, err := tokens.Get("o200k_base")
	if err != nil {
		b.Fatal(err)
	}
	noUsage := body[:bytes.LastIndex(body, []byte(`,"usage"`))]
	noUsage = append(noUsage[:len(noUsage):len(noUsage)], '}')
	h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(noUsage)
	})
	b.Run("tap-count", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(noUsage)))
		for b.Loop() {
			c := &Call{Endpoint: EndpointChatCompletions, Chat: &wire.ChatCompletionRequest{}, Encoding: enc}
			c.Observe(usageObserver(c))
			serveTapped(h, w, req, c)
			if c.Usage == nil || c.Usage.CompletionTokens < 150 {
				b.Fatalf("usage %+v", c.Usage)
			}
		}
	})
}
