package middleware

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// chunkCorpus holds chunks of the fast path and of every way out of it.
var chunkCorpus = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"word0 "},"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"héllo ✓"},"logprobs":null,"finish_reason":"stop"}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":300,"completion_tokens":16,"total_tokens":316}}`,
	` { "id" : "c" , "choices" : [ { "index" : 1 , "delta" : { } } , {"index":0,"delta":{"refusal":"no","content":null}} ] , "usage" : null } `,
	`{"choices":[{"index":0,"delta":{"content":"a\nb \"q\" \u00e9"}}]}`, // escapes
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":""}}}]}`,
	`{"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}`,
	`{"choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[]}}]}`,
	`{"ID":"upper","Choices":[{"Index":2}]}`, // case-insensitive keys
	`{"id":"a","id":"b"}`,                    // repeated key
	`{"choices":[{"index":0}],"choices":[{"index":1},{"index":2}]}`,
	`{"created":1.5}`, `{"created":1e3}`, `{"created":-0}`, `{"created":01}`, `{"created":-}`,
	`{"created":123456789012345678901234}`, `{"index":"x"}`, `{"choices":null}`, `{"choices":{}}`,
	`{"id":null,"model":"m"}`, `{"usage":{}}`, `{"extra":[1,{"a":null}],"id":"x"}`,
	`{"id":"bad \xff utf8"}`, "{\"id\":\"ctl \x01\"}", `{"id":"x"} trailing`, `{"id":"x"`, `{"id":"x",}`,
	`null`, `[]`, `"s"`, ``, `{}`, `{"choices":[{"finish_reason":"length","index":3,"delta":{"role":"assistant"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a"}},]}`, `{"choices":[{"index":0,"delta":{"content":"a"}} {"index":1}]}`,
}

// TestDecodeChatChunkMatchesUnmarshal checks the fast path against
// encoding/json on the corpus: the same chunk and the same error, with a
// reused, dirty backing array for the choices as the tap passes it.
func TestDecodeChatChunkMatchesUnmarshal(t *testing.T) {
	for _, in := range chunkCorpus {
		checkChunkDecode(t, []byte(in))
	}
}

func checkChunkDecode(t *testing.T, in []byte) {
	t.Helper()
	// As the tap does: a backing array left over from a previous chunk,
	// cleared, then the chunk reset around it.
	reused := func() wire.ChatCompletionChunk {
		prev := make([]wire.ChunkChoice, 3, 4)
		prev[0].Delta.Content, prev[2].Index = "old", 9
		clear(prev[:cap(prev)])
		return wire.ChatCompletionChunk{Choices: prev[:0]}
	}
	want := reused()
	wantErr := json.Unmarshal(in, &want)
	got := reused()
	gotErr := decodeChatChunk(in, &got)

	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%q: error %v, json.Unmarshal %v", in, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got  %+v\n want %+v", in, got, want)
	}
}

func FuzzDecodeChatChunk(f *testing.F) {
	for _, in := range chunkCorpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkChunkDecode(t, in) })
}

// TestDecodeChatChunkFastPath checks that the usual chunks take the fast
// path (the corpus test alone would pass if every chunk fell back).
func TestDecodeChatChunkFastPath(t *testing.T) {
	for _, in := range chunkCorpus[:4] {
		var c wire.ChatCompletionChunk
		p := chunkParser{b: []byte(in)}
		if !p.chunk(&c) || !p.end() {
			t.Errorf("%s: left the fast path at byte %d", in, p.i)
		}
	}
}
