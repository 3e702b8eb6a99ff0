package middleware

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/wire"
)

// modNoop is a moderator that flags nothing: the baseline that measures
// the layer without the classifier.
type modNoop struct{}

func (modNoop) Moderate(_ context.Context, in []moderation.Input) ([]wire.ModerationResult, error) {
	return make([]wire.ModerationResult, len(in)), nil
}

// modBenchVariants are the layers compared: no Moderate at all, Moderate
// with the no-op moderator, Moderate with the built-in one.
func modBenchVariants(b *testing.B, base ModerateConfig) []struct {
	name string
	mw   Middleware
} {
	noop, builtin := base, base
	noop.Moderator = modNoop{}
	mn, err := NewModerate(noop)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := NewModerate(builtin)
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		mw   Middleware
	}{{"baseline=none", nil}, {"baseline=noop", mn.Wrap}, {"builtin", mb.Wrap}}
}

// BenchmarkModerateInput4KiB: Decode, Count and Moderate (input side) on a
// 4 KiB chat request of 40 messages, against the same chain with a no-op
// moderator and without Moderate. builtin − baseline=noop is the cost of
// moderating the prompt.
func BenchmarkModerateInput4KiB(b *testing.B) {
	body := benchChat(4 << 10)
	for _, v := range modBenchVariants(b, ModerateConfig{Output: OutputOff}) {
		b.Run(v.name, func(b *testing.B) {
			ran := false
			h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}), v.mw)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
			b.SetBytes(int64(len(body)))
			benchServe(b, h, body)
			if !ran {
				b.Fatal("request did not reach the handler")
			}
		})
	}
}

// BenchmarkModerateStreamChunk: a streamed response of 256 chunks (about
// 6 bytes of content each) through Decode, Count and Moderate (output
// side), reported per chunk (ns/chunk), against the same chain with a
// no-op moderator and without Moderate.
func BenchmarkModerateStreamChunk(b *testing.B) {
	modBenchStream(b, func(id, word string) string { return chatChunkJSON(id, word) })
}

// BenchmarkModerateStreamChunkLogprobs is BenchmarkModerateStreamChunk
// with logprobs, as OpenAI sends them for logprobs: true, top_logprobs: 2
// (one token per chunk): their entries are held back with the text.
func BenchmarkModerateStreamChunkLogprobs(b *testing.B) {
	modBenchStream(b, func(id, word string) string {
		q := strconv.Quote(word)
		bs := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(modLPBytes(word))), ","), "[]")
		entry := fmt.Sprintf(`{"token":%s,"logprob":-0.25,"bytes":[%s],"top_logprobs":[{"token":%s,"logprob":-0.25,"bytes":[%s]},{"token":" a","logprob":-2.5,"bytes":[32,97]}]}`, q, bs, q, bs)
		return fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%s},"logprobs":{"content":[%s],"refusal":null},"finish_reason":null}]}`, id, q, entry)
	})
}

// modBenchStream serves 256 chunks made by chunk through the variants.
func modBenchStream(b *testing.B, chunk func(id, word string) string) {
	const chunks = 256
	words := []string{"The ", "river ", "bends ", "gently ", "past ", "old ", "mills, ", "and ", "children ", "wave. "}
	var stream bytes.Buffer
	for i := range chunks {
		fmt.Fprintf(&stream, "data: %s\n\n", chunk("chatcmpl-AbCdEf0123456789", words[i%len(words)]))
	}
	stream.WriteString("data: [DONE]\n\n")
	events := bytes.SplitAfter(stream.Bytes(), []byte("\n\n"))
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Tell me about the river."}]}`)
	for _, v := range modBenchVariants(b, ModerateConfig{Input: InputOff}) {
		b.Run(v.name, func(b *testing.B) {
			h := Chain(Decode(DecodeConfig{}), Count(CountConfig{}), v.mw)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, ev := range events {
					if _, err := w.Write(ev); err != nil {
						b.Fatal(err)
					}
				}
			}))
			benchServe(b, h, body)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunks), "ns/chunk")
		})
	}
}
