package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// TestTapChunkKeptParts streams chat chunks — logprobs, tool calls, a
// reasoning delta, one only json.Unmarshal reads, usage — through the
// tap, written from one buffer the handler reuses, to an observer that
// keeps each chunk's choices and usage past OnChunk, as the moderation
// layer keeps logprobs entries. What it kept must still be what
// json.Unmarshal makes of each event at the end: the tap's strings must
// not point into the parser's reused buffer.
func TestTapChunkKeptParts(t *testing.T) {
	lp := func(tok string) string {
		q, _ := json.Marshal(tok)
		return fmt.Sprintf(`{"content":[{"token":%s,"logprob":-0.25,"bytes":[%d],"top_logprobs":[{"token":%s,"logprob":-0.25,"bytes":[%d]},{"token":" a","logprob":-2.5,"bytes":[32,97]}]}],"refusal":null}`, q, tok[0], q, tok[0])
	}
	var events []string
	for i, w := range []string{"The", " river", " bends", " gently"} {
		events = append(events, fmt.Sprintf(`{"id":"chatcmpl-%d","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"logprobs":%s,"finish_reason":null}]}`, i, w, lp(w)))
	}
	events = append(events,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"hmm","content":"ok"},"finish_reason":"stop"}]}`,
		`{"id":"c","Choices":[{"index":0,"delta":{"content":"case-folded key"}}]}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"completion_tokens_details":{"reasoning_tokens":1}}}`,
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		buf := make([]byte, 0, 1024)
		for _, ev := range events {
			buf = append(append(append(buf[:0], "data: "...), ev...), "\n\n"...)
			_, _ = w.Write(buf)
			for i := range buf {
				buf[i] = 'X' // the handler's buffer is reused too
			}
		}
	})
	type kept struct {
		choices []wire.ChunkChoice
		usage   *wire.Usage
		id      string
	}
	var got []kept
	c := &Call{Endpoint: EndpointChatCompletions}
	c.Observe(Observer{OnChunk: func(ch *Chunk) {
		if ch.Chat == nil {
			t.Errorf("chunk %q: %v", ch.Data, ch.Err)
			return
		}
		got = append(got, kept{append([]wire.ChunkChoice(nil), ch.Chat.Choices...), ch.Chat.Usage, ch.Chat.ID})
	}})
	serveTapped(h, httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil), c)

	if len(got) != len(events) {
		t.Fatalf("%d chunks observed, want %d", len(got), len(events))
	}
	for i, ev := range events {
		var want wire.ChatCompletionChunk
		if err := json.Unmarshal([]byte(ev), &want); err != nil {
			t.Fatal(err)
		}
		if len(want.Choices) == 0 {
			want.Choices = nil // what the observer's copy makes of []
		}
		if g := got[i]; !reflect.DeepEqual(g.choices, want.Choices) || !reflect.DeepEqual(g.usage, want.Usage) || g.id != want.ID {
			t.Errorf("event %d: kept\n%+v %+v %q\nwant\n%+v %+v %q", i, g.choices, g.usage, g.id, want.Choices, want.Usage, want.ID)
		}
		if strings.Contains(fmt.Sprintf("%+v", got[i]), "XX") {
			t.Errorf("event %d: kept parts point into a reused buffer", i)
		}
	}
}
