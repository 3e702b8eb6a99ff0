package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	stream := func(n int, flush bool) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			for range n {
				_, _ = w.Write(event)
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
		stream(b.N, true).ServeHTTP(&tapDiscard{h: http.Header{}}, req)
	})
	b.Run("tap-no-observer", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(event)))
		serveTapped(stream(b.N, false), &tapDiscard{h: http.Header{}}, req, &Call{Endpoint: EndpointChatCompletions})
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
		serveTapped(stream(b.N, false), &tapDiscard{h: http.Header{}}, req, c)
	})
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
}
