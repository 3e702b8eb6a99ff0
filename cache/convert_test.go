package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
	"github.com/openai/openai-go/v3"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// chatStream is a recorded stream: a role chunk, content in pieces, two
// tool calls whose arguments arrive interleaved, the finish chunk and the
// usage chunk, as OpenAI sends them with include_usage.
var chatStream = []string{
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Let me "},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"check <both> & more."},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{\"tz\":"}}]},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]},"finish_reason":null}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":12,"total_tokens":43,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
}

func record(t *testing.T, k Kind, events []string) *Entry {
	t.Helper()
	r := Recorder{Kind: k}
	for _, ev := range events {
		r.Add([]byte(ev))
	}
	r.Add([]byte("[DONE]"))
	e, err := r.Finish(200, nil, t0)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return e
}

// bodyAsStream stores body, serves it streamed (with a usage chunk when
// the body has usage) and records those events again: it returns them and
// the body they merge into.
func bodyAsStream(t *testing.T, k Kind, body []byte) (events [][]byte, again []byte) {
	t.Helper()
	entry, err := NewBodyEntry(k, 200, body, t0)
	if err != nil {
		t.Fatal(err)
	}
	if events, err = entry.StreamEvents(entry.Usage != nil); err != nil {
		t.Fatal(err)
	}
	var strs []string
	for _, ev := range events {
		strs = append(strs, string(ev))
	}
	if again, err = record(t, k, strs).JSON(); err != nil {
		t.Fatal(err)
	}
	return events, again
}

func TestStreamToChatCompletion(t *testing.T) {
	e := record(t, KindChat, chatStream)
	if !e.Stream || !e.StreamUsage || e.Model != "gpt-4o-mini-2024-07-18" || e.Usage == nil || e.Usage.TotalTokens != 43 {
		t.Fatalf("entry = %+v", e)
	}
	body, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got openai.ChatCompletion
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	// The official accumulator, fed the same chunks, is the reference.
	var acc openai.ChatCompletionAccumulator
	for _, ev := range chatStream {
		var ch openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(ev), &ch); err != nil {
			t.Fatal(err)
		}
		if !acc.AddChunk(ch) {
			t.Fatalf("accumulator refused %s", ev)
		}
	}
	want := acc.ChatCompletion
	if got.Object != "chat.completion" || got.ID != "c1" || got.Created != 1700000000 || !strings.Contains(string(body), `"system_fingerprint":"fp_1"`) {
		t.Errorf("header: %s", body)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("choices: %s", body)
	}
	g, w := got.Choices[0], want.Choices[0]
	if g.Message.Content != "Let me check <both> & more." || g.Message.Content != w.Message.Content {
		t.Errorf("content %q, accumulator %q", g.Message.Content, w.Message.Content)
	}
	if g.FinishReason != "tool_calls" || g.Message.Role != "assistant" {
		t.Errorf("finish %q role %q", g.FinishReason, g.Message.Role)
	}
	if len(g.Message.ToolCalls) != 2 || len(w.Message.ToolCalls) != 2 {
		t.Fatalf("tool calls: %s", body)
	}
	for i, tc := range g.Message.ToolCalls {
		wc := w.Message.ToolCalls[i]
		if tc.ID != wc.ID || tc.Function.Name != wc.Function.Name || tc.Function.Arguments != wc.Function.Arguments || tc.Type != "function" {
			t.Errorf("tool call %d = %+v, accumulator %+v", i, tc.Function, wc.Function)
		}
	}
	if a := g.Message.ToolCalls[0].Function.Arguments; a != `{"city":"Paris"}` {
		t.Errorf("arguments %q", a)
	}
	if got.Usage.TotalTokens != 43 || got.Usage.PromptTokens != 31 || got.Usage.CompletionTokens != want.Usage.CompletionTokens {
		t.Errorf("usage %+v", got.Usage)
	}
	if bytes.Contains(body, []byte(`"index":0,"id"`)) {
		t.Errorf("tool calls of a message carry an index: %s", body)
	}
}

func TestStreamToChatLogprobsAndChoices(t *testing.T) {
	events := []string{
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"role":"assistant"},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"A"},"logprobs":{"content":[{"token":"A","logprob":-0.1,"bytes":[65],"top_logprobs":[]}]},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"B"},"logprobs":{"content":[{"token":"B","logprob":-0.2,"bytes":[66],"top_logprobs":[]}]},"finish_reason":null}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.3,"bytes":[97],"top_logprobs":[]}]},"finish_reason":"stop"}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{},"finish_reason":"length"}]}`,
	}
	e := record(t, KindChat, events)
	if e.StreamUsage || e.Usage != nil {
		t.Errorf("no usage chunk, got StreamUsage %v usage %v", e.StreamUsage, e.Usage)
	}
	body, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got wire.ChatCompletion
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 2 || got.Choices[0].Index != 0 || got.Choices[1].Index != 1 {
		t.Fatalf("choices: %s", body)
	}
	c0, c1 := got.Choices[0], got.Choices[1]
	if c0.Message.Content.String() != "Aa" || c0.FinishReason != wire.FinishStop || len(c0.Logprobs.Content) != 2 || c0.Logprobs.Content[1].Logprob != -0.3 {
		t.Errorf("choice 0: %+v", c0)
	}
	if c1.Message.Content.String() != "B" || c1.FinishReason != wire.FinishLength || len(c1.Logprobs.Content) != 1 {
		t.Errorf("choice 1: %+v", c1)
	}
}

const chatBody = `{"id":"chatcmpl-9","object":"chat.completion","created":1700000001,"model":"gpt-4o-mini","system_fingerprint":"fp_2",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there","tool_calls":[` +
	`{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}},` +
	`{"id":"call_2","type":"function","function":{"name":"fetch","arguments":"{}"}}]},` +
	`"logprobs":{"content":[{"token":"Hello","logprob":-0.01,"bytes":[72,101,108,108,111],"top_logprobs":[]},{"token":" there","logprob":-0.5,"bytes":[32,116,104,101,114,101],"top_logprobs":[]}]},` +
	`"finish_reason":"tool_calls"}],` +
	`"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":0}}}`

func TestChatCompletionToStream(t *testing.T) {
	e, err := NewBodyEntry(KindChat, 200, []byte(chatBody), t0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Model != "gpt-4o-mini" || e.Usage.TotalTokens != 29 || e.Stream {
		t.Fatalf("entry %+v", e)
	}
	for _, includeUsage := range []bool{true, false} {
		t.Run(map[bool]string{true: "include_usage", false: "no_usage"}[includeUsage], func(t *testing.T) {
			events, err := e.StreamEvents(includeUsage)
			if err != nil {
				t.Fatal(err)
			}
			var acc openai.ChatCompletionAccumulator
			var last openai.ChatCompletionChunk
			for _, ev := range events {
				var ch openai.ChatCompletionChunk
				if err := json.Unmarshal(ev, &ch); err != nil {
					t.Fatalf("decode %s: %v", ev, err)
				}
				if ch.Object != "chat.completion.chunk" || ch.ID != "chatcmpl-9" || ch.Model != "gpt-4o-mini" {
					t.Errorf("chunk header: %s", ev)
				}
				if !acc.AddChunk(ch) {
					t.Fatalf("accumulator refused %s", ev)
				}
				last = ch
			}
			got := acc.ChatCompletion
			if len(got.Choices) != 1 {
				t.Fatalf("choices %d", len(got.Choices))
			}
			c := got.Choices[0]
			if c.Message.Content != "Hello there" || c.FinishReason != "tool_calls" || c.Message.Role != "assistant" {
				t.Errorf("message %+v finish %q", c.Message, c.FinishReason)
			}
			if len(c.Message.ToolCalls) != 2 || c.Message.ToolCalls[0].Function.Arguments != `{"q":"x"}` ||
				c.Message.ToolCalls[1].ID != "call_2" || c.Message.ToolCalls[1].Function.Name != "fetch" {
				t.Errorf("tool calls %+v", c.Message.ToolCalls)
			}
			if len(c.Logprobs.Content) != 2 || c.Logprobs.Content[1].Token != " there" {
				t.Errorf("logprobs %+v", c.Logprobs.Content)
			}
			if includeUsage {
				if len(last.Choices) != 0 || last.Usage.TotalTokens != 29 || last.Usage.PromptTokensDetails.CachedTokens != 4 {
					t.Errorf("last chunk is not the usage chunk: %s", events[len(events)-1])
				}
			} else if last.Usage.TotalTokens != 0 || bytes.Contains(bytes.Join(events, nil), []byte(`"usage"`)) {
				t.Errorf("usage without include_usage")
			}
			// role, two content tokens, two tool calls, finish (+ usage)
			if want := 6 + map[bool]int{true: 1}[includeUsage]; len(events) != want {
				t.Errorf("%d events, want %d", len(events), want)
			}
		})
	}
	// And back: the stream merges into the original answer.
	events, _ := e.StreamEvents(true)
	var evs []string
	for _, ev := range events {
		evs = append(evs, string(ev))
	}
	back, err := record(t, KindChat, evs).JSON()
	if err != nil {
		t.Fatal(err)
	}
	var a, b wire.ChatCompletion
	_ = json.Unmarshal([]byte(chatBody), &a)
	_ = json.Unmarshal(back, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("round trip:\n got %s\nwant %s", jb, ja)
	}
}

func TestRecordedStreamUsageChunk(t *testing.T) {
	withUsage := record(t, KindChat, chatStream)
	noUsage := record(t, KindChat, chatStream[:len(chatStream)-1])
	tests := []struct {
		name         string
		e            *Entry
		includeUsage bool
		wantEvents   int
		wantUsage    bool
	}{
		{"stored usage, asked", withUsage, true, len(chatStream), true},
		{"stored usage, not asked", withUsage, false, len(chatStream) - 1, false},
		{"no stored usage, not asked", noUsage, false, len(chatStream) - 1, false},
		{"no stored usage, unknown usage", noUsage, true, len(chatStream) - 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := tc.e.StreamEvents(tc.includeUsage)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tc.wantEvents {
				t.Fatalf("%d events, want %d", len(evs), tc.wantEvents)
			}
			if got := lastIsUsage(evs); got != tc.wantUsage {
				t.Errorf("ends with usage chunk: %v", got)
			}
		})
	}
	t.Run("counted usage is added", func(t *testing.T) {
		r := Recorder{}
		for _, ev := range chatStream[:len(chatStream)-1] {
			r.Add([]byte(ev))
		}
		r.Add([]byte("[DONE]"))
		e, err := r.Finish(200, &wire.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}, t0)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := e.StreamEvents(true)
		if err != nil {
			t.Fatal(err)
		}
		var ch wire.ChatCompletionChunk
		if err := json.Unmarshal(evs[len(evs)-1], &ch); err != nil || ch.Usage == nil || ch.Usage.TotalTokens != 3 || ch.ID != "c1" || ch.Choices == nil {
			t.Errorf("added usage chunk %s: %v", evs[len(evs)-1], err)
		}
		if len(e.Events) != len(chatStream)-1 {
			t.Error("StreamEvents modified the entry")
		}
		body, _ := e.JSON()
		var c wire.ChatCompletion
		if err := json.Unmarshal(body, &c); err != nil || c.Usage == nil || c.Usage.TotalTokens != 3 {
			t.Errorf("JSON usage: %s", body)
		}
	})
}

var completionStream = []string{
	`{"id":"cmpl-1","object":"text_completion","created":5,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"Once","logprobs":{"tokens":["Once"],"token_logprobs":[-0.1],"top_logprobs":[{"Once":-0.1}],"text_offset":[0]},"finish_reason":null}]}`,
	`{"id":"cmpl-1","object":"text_completion","created":5,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":" upon","logprobs":{"tokens":[" upon"],"token_logprobs":[-0.2],"top_logprobs":[{" upon":-0.2}],"text_offset":[4]},"finish_reason":null}]}`,
	`{"id":"cmpl-1","object":"text_completion","created":5,"model":"gpt-3.5-turbo-instruct","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"length"}]}`,
	`{"id":"cmpl-1","object":"text_completion","created":5,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
}

func TestCompletionConversions(t *testing.T) {
	e := record(t, KindCompletion, completionStream)
	if !e.StreamUsage || e.Usage.TotalTokens != 5 {
		t.Fatalf("entry %+v", e)
	}
	body, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var c wire.Completion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text != "Once upon" || c.Choices[0].FinishReason != wire.FinishLength ||
		c.Usage.TotalTokens != 5 || len(c.Choices[0].Logprobs.Tokens) != 2 || c.Choices[0].Logprobs.TextOffset[1] != 4 {
		t.Fatalf("merged: %s", body)
	}
	// JSON → stream → JSON is the same completion.
	be, err := NewBodyEntry(KindCompletion, 200, body, t0)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := be.StreamEvents(true)
	if err != nil {
		t.Fatal(err)
	}
	var strs []string
	for _, ev := range evs {
		var ch wire.Completion
		if err := json.Unmarshal(ev, &ch); err != nil || ch.Object != "text_completion" {
			t.Fatalf("chunk %s: %v", ev, err)
		}
		strs = append(strs, string(ev))
	}
	if !lastIsUsage(evs) {
		t.Error("no usage chunk")
	}
	back, err := record(t, KindCompletion, strs).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, body) {
		t.Errorf("round trip:\n got %s\nwant %s", back, body)
	}
}

func TestNotStorable(t *testing.T) {
	filtered := strings.Replace(chatBody, `"finish_reason":"tool_calls"`, `"finish_reason":"content_filter"`, 1)
	bodyTests := []struct {
		name   string
		kind   Kind
		status int
		body   string
	}{
		{"error status", KindChat, 500, chatBody},
		{"rate limited", KindChat, 429, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`},
		{"content filter", KindChat, 200, filtered},
		{"not JSON", KindChat, 200, `<html>`},
		{"error envelope with 200", KindChat, 200, `{"error":{"message":"x"}}`},
		{"wrong kind", KindCompletion, 200, chatBody},
	}
	for _, tc := range bodyTests {
		t.Run("body/"+tc.name, func(t *testing.T) {
			if _, err := NewBodyEntry(tc.kind, tc.status, []byte(tc.body), t0); !errors.Is(err, ErrNotStorable) {
				t.Errorf("err = %v, want ErrNotStorable", err)
			}
		})
	}
	streamTests := []struct {
		name   string
		events []string
		done   bool
		status int
		max    int
	}{
		{"no [DONE]", chatStream, false, 200, 0},
		{"error status", chatStream, true, 500, 0},
		{"content filter", []string{`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"content_filter"}]}`}, true, 200, 0},
		{"unfinished choice", chatStream[:3], true, 200, 0},
		{"garbage event", []string{`not json`}, true, 200, 0},
		{"too large", chatStream, true, 200, 100},
		{"empty", nil, true, 200, 0},
		// A finished stream, then an error event: the Budget layer's cut,
		// or a server's.
		{"error event", append(slices.Clone(chatStream), `{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`), true, 200, 0},
		{"error event, name escaped", append(slices.Clone(chatStream), `{"\u0065rror":{"message":"x"}}`), true, 200, 0},
		{"moderation cut", append(slices.Clone(chatStream), `{"choices":[],"error":{"message":"flagged","type":"invalid_request_error","code":"content_policy_violation"}}`), true, 200, 0},
		{"error beside the choices", append(slices.Clone(chatStream), `{"id":"x","object":"chat.completion.chunk","choices":[],"error":{"message":"upstream"}}`), true, 200, 0},
		{"error in a chunk", []string{`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"ERROR":{"message":"upstream"}}`}, true, 200, 0},
		{"finish_reason error", []string{`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"error"}]}`}, true, 200, 0},
	}
	for _, tc := range streamTests {
		t.Run("stream/"+tc.name, func(t *testing.T) {
			r := Recorder{MaxBytes: tc.max}
			for _, ev := range tc.events {
				r.Add([]byte(ev))
			}
			if tc.done {
				r.Add([]byte("[DONE]"))
			}
			if _, err := r.Finish(tc.status, nil, t0); !errors.Is(err, ErrNotStorable) {
				t.Errorf("err = %v, want ErrNotStorable", err)
			}
		})
	}
}

// TestStorableAzurePromptFilter: Azure OpenAI opens a stream with a
// chunk that holds only its prompt filter results (empty id, model and
// object, no choices): the stream is stored.
func TestStorableAzurePromptFilter(t *testing.T) {
	events := append([]string{`{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}`},
		chatStream...)
	e := record(t, KindChat, events)
	if b, err := e.JSON(); err != nil || !bytes.Contains(b, []byte(`"chat.completion"`)) {
		t.Errorf("JSON %s: %v", b, err)
	}
}

// TestStorableMentionsError: a chunk that only mentions an error, in its
// text or in a null member, is stored.
func TestStorableMentionsError(t *testing.T) {
	for _, kind := range []Kind{KindChat, KindCompletion} {
		events := []string{
			`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"An \"error\": ERROR \u0065rror"},"finish_reason":null}],"error":null}`,
			`{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		}
		if kind == KindCompletion {
			events = []string{`{"id":"x","object":"text_completion","choices":[{"index":0,"text":"error: \"error\"","finish_reason":"stop"}],"error":null}`}
		}
		r := Recorder{Kind: kind}
		for _, ev := range append(events, "[DONE]") {
			r.Add([]byte(ev))
		}
		if _, err := r.Finish(200, nil, t0); err != nil {
			t.Errorf("%v: %v", kind, err)
		}
	}
}

func TestRecorderCopies(t *testing.T) {
	var r Recorder
	buf := []byte(chatStream[0])
	r.Add(buf)
	copy(buf, "XXXXXXXX")
	if string(r.events[0]) != chatStream[0] {
		t.Error("Add kept the caller's buffer")
	}
}

func TestReplay(t *testing.T) {
	events := [][]byte{[]byte(`{"a":1}`), []byte("line1\nline2\r\nline3"), []byte(`{"b":2}`)}
	var buf bytes.Buffer
	flushes := 0
	var waits []time.Duration
	p := EveryChunk(20 * time.Millisecond)
	p.Wait = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if err := Replay(context.Background(), &buf, func() error { flushes++; return nil }, events, p); err != nil {
		t.Fatal(err)
	}
	if flushes != 4 {
		t.Errorf("%d flushes, want one per event and [DONE]", flushes)
	}
	if len(waits) != 3 {
		t.Errorf("waits %v", waits)
	}
	want := "data: {\"a\":1}\n\ndata: line1\ndata: line2\ndata: line3\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
	if buf.String() != want {
		t.Errorf("wrote %q", buf.String())
	}
	r := wire.NewReader(&buf)
	for i := 0; ; i++ {
		ev, err := r.Next()
		if err == io.EOF {
			if i != 4 {
				t.Errorf("%d events read", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && strings.ReplaceAll(string(events[i]), "\r\n", "\n") != string(ev.Data) {
			t.Errorf("event %d = %q", i, ev.Data)
		}
		if i == 3 && !ev.IsDone() {
			t.Errorf("last event %q", ev.Data)
		}
	}
}

func TestReplayStops(t *testing.T) {
	events := [][]byte{[]byte(`1`), []byte(`2`)}
	ctx, cancel := context.WithCancel(context.Background())
	p := Pacing{
		Delay: func(int) time.Duration { return time.Second },
		Wait: func(ctx context.Context, _ time.Duration) error {
			cancel()
			return ctx.Err()
		},
	}
	var buf bytes.Buffer
	if err := Replay(ctx, &buf, nil, events, p); !errors.Is(err, context.Canceled) || buf.Len() != 0 {
		t.Errorf("err %v, wrote %q", err, buf.String())
	}
	errWrite := errors.New("gone")
	if err := Replay(context.Background(), failWriter{errWrite}, nil, events, Pacing{}); !errors.Is(err, errWrite) {
		t.Errorf("write error: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestConversionsKept(t *testing.T) {
	stream := record(t, KindChat, chatStream)
	body, err := NewBodyEntry(KindChat, 200, []byte(chatBody), t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		convert func() ([][]byte, error)
	}{
		{"stream to JSON", func() ([][]byte, error) {
			b, err := stream.JSON()
			return [][]byte{b}, err
		}},
		{"JSON to stream", func() ([][]byte, error) { return body.StreamEvents(false) }},
		{"JSON to stream with usage", func() ([][]byte, error) { return body.StreamEvents(true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, err := tc.convert()
			if err != nil {
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(10, func() { _, _ = tc.convert() }); allocs > 1 { // the test's own [][]byte{b}
				t.Errorf("%v allocations converting again, want none", allocs)
			}
			again, _ := tc.convert()
			if !reflect.DeepEqual(first, again) {
				t.Error("second conversion differs")
			}
		})
	}
}

// extrasStream is a recorded stream whose deltas carry members the wire
// types do not hold: reasoning_content in pieces (and null beside the
// content), annotations in two parts, an object member replaced by the
// next; choice 1 names its index after its delta.
var extrasStream = []string{
	`{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"The user greets; "}}]}`,
	`{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"delta":{"reasoning_content":"reply \"politely\"."},"index":0},{"delta":{"role":"assistant","reasoning":"short"},"index":1}]}`,
	`{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Hello!","reasoning_content":null,"annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com/a"}}],"x_meta":{"v":1}}}]}`,
	`{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com/b"}}],"x_meta":{"v":2}},"finish_reason":"stop"},{"index":1,"delta":{"content":"Hi"},"finish_reason":"stop"}]}`,
}

func TestConversionExtras(t *testing.T) {
	stream := record(t, KindChat, extrasStream)
	body, err := stream.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Choices []struct {
			Message map[string]json.RawMessage `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &got); err != nil || len(got.Choices) != 2 {
		t.Fatalf("merged body %s: %v", body, err)
	}
	want := []map[string]string{{
		"role": `"assistant"`, "content": `"Hello!"`, "reasoning_content": `"The user greets; reply \"politely\"."`,
		"annotations": `[{"type":"url_citation","url_citation":{"url":"https://example.com/a"}},{"type":"url_citation","url_citation":{"url":"https://example.com/b"}}]`,
		"x_meta":      `{"v":2}`,
	}, {"role": `"assistant"`, "content": `"Hi"`, "reasoning": `"short"`}}
	for i, w := range want {
		m := got.Choices[i].Message
		if len(m) != len(w) {
			t.Errorf("choice %d: message %v, want the members %v", i, m, w)
		}
		for k, v := range w {
			if string(m[k]) != v {
				t.Errorf("choice %d: %s = %s, want %s", i, k, m[k], v)
			}
		}
	}

	// And back: the body served streamed carries the extras in a delta
	// after the role, and merges into the same body again.
	events, again := bodyAsStream(t, KindChat, body)
	var ch struct {
		Choices []struct {
			Delta map[string]json.RawMessage `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(events[1], &ch); err != nil || len(ch.Choices) != 1 || string(ch.Choices[0].Delta["reasoning_content"]) != want[0]["reasoning_content"] {
		t.Errorf("second event %s (%v), want the extras' delta", events[1], err)
	}
	if !bytes.Equal(again, body) {
		t.Errorf("body → stream → body:\n%s\nwant\n%s", again, body)
	}
}

// vllmStream is a recorded stream with members of the chunk and of the
// choice that the wire types do not hold: vLLM's prompt_token_ids in the
// first chunk, token_ids with every piece of content and stop_reason, null
// until the finish; OpenRouter's provider in every chunk, Groq's x_groq
// restated with its usage at the end, OpenAI's obfuscation padding.
var vllmStream = []string{
	`{"id":"v1","object":"chat.completion.chunk","created":7,"model":"m","prompt_token_ids":[1,2,3],"provider":"p","x_groq":{"id":"req_1"},"obfuscation":"Zq","choices":[{"index":0,"delta":{"role":"assistant","content":""},"stop_reason":null,"token_ids":[]}]}`,
	`{"id":"v1","object":"chat.completion.chunk","created":7,"model":"m","provider":"p","obfuscation":"a9","choices":[{"index":0,"delta":{"content":"Hel"},"stop_reason":null,"token_ids":[9906]}]}`,
	`{"id":"v1","object":"chat.completion.chunk","created":7,"model":"m","provider":"p","obfuscation":"b","choices":[{"index":0,"delta":{"content":"lo"},"stop_reason":null,"token_ids":[385,0]}]}`,
	`{"id":"v1","object":"chat.completion.chunk","created":7,"model":"m","provider":"p","x_groq":{"id":"req_1","usage":{"queue_time":0.01}},"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"</s>","token_ids":[]}]}`,
}

// TestConversionResponseExtras: the members of the chunks and of the
// choices that the wire types do not hold reach the merged body, as a
// non-streamed request gets them from the server (token_ids joined, the
// last stop_reason, x_groq merged, no obfuscation), and survive the way
// back; a stop_reason that is only ever null stays, as null.
func TestConversionResponseExtras(t *testing.T) {
	body, err := record(t, KindChat, vllmStream).JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"v1","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},` +
		`"finish_reason":"stop","logprobs":null,"stop_reason":"</s>","token_ids":[9906,385,0]}],` +
		`"prompt_token_ids":[1,2,3],"provider":"p","x_groq":{"id":"req_1","usage":{"queue_time":0.01}}}`
	if string(body) != want {
		t.Fatalf("merged body\n%s\nwant\n%s", body, want)
	}

	// The way back: the response's members in the first chunk, the
	// choice's in its finish chunk; merged again, the same body.
	events, again := bodyAsStream(t, KindChat, body)
	if !bytes.HasSuffix(events[0], []byte(`,"prompt_token_ids":[1,2,3],"provider":"p","x_groq":{"id":"req_1","usage":{"queue_time":0.01}}}`)) {
		t.Errorf("first chunk %s, want the response's members", events[0])
	}
	if last := events[len(events)-1]; !bytes.Contains(last, []byte(`"finish_reason":"stop","stop_reason":"</s>","token_ids":[9906,385,0]}`)) {
		t.Errorf("finish chunk %s, want the choice's members", last)
	}
	if string(again) != want {
		t.Errorf("body → stream → body:\n%s\nwant\n%s", again, want)
	}

	nulls := []string{
		`{"id":"v2","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"stop_reason":null}]}`,
		`{"id":"v2","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length","stop_reason":null}]}`,
	}
	body, err = record(t, KindChat, nulls).JSON()
	if err != nil || !bytes.Contains(body, []byte(`"finish_reason":"length","logprobs":null,"stop_reason":null}`)) {
		t.Errorf("merged body %s (%v), want stop_reason null", body, err)
	}
}

// TestCompletionConversionExtras: a legacy completion stream carries its
// unknown members to the merged body and back, as a chat stream does.
func TestCompletionConversionExtras(t *testing.T) {
	stream := []string{
		`{"id":"t1","object":"text_completion","created":7,"model":"m","prompt_token_ids":[5],"choices":[{"index":0,"text":"Hi","logprobs":null,"finish_reason":null,"stop_reason":null,"token_ids":[1]}]}`,
		`{"id":"t1","object":"text_completion","created":7,"model":"m","choices":[{"index":0,"text":"!","logprobs":null,"finish_reason":"stop","stop_reason":2,"token_ids":[2]}],"obfuscation":"x"}`,
	}
	body, err := record(t, KindCompletion, stream).JSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"t1","object":"text_completion","created":7,"model":"m","choices":[{"index":0,"text":"Hi!","logprobs":null,"finish_reason":"stop","stop_reason":2,"token_ids":[1,2]}],"prompt_token_ids":[5]}`
	if string(body) != want {
		t.Fatalf("merged body\n%s\nwant\n%s", body, want)
	}
	if events, again := bodyAsStream(t, KindCompletion, body); string(again) != want {
		t.Errorf("body → stream → body:\n%s\nwant\n%s\nevents %s", again, want, events)
	}
}

// TestConversionExtrasEdges: the members the wire types do not hold, where
// they could be confused with the typed ones or repeat.
func TestConversionExtrasEdges(t *testing.T) {
	const head = `"id":"e","object":"chat.completion.chunk","created":1,"model":"m"`
	merge := func(t *testing.T, chunks ...string) []byte {
		t.Helper()
		for i, c := range chunks {
			chunks[i] = "{" + head + "," + c + "}"
		}
		body, err := record(t, KindChat, chunks).JSON()
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	const bodyHead = `{"id":"e","object":"chat.completion","created":1,"model":"m","choices":[`
	t.Run("a usage inside an extra", func(t *testing.T) { // Groq's x_groq beside the usage
		body := merge(t, `"x_groq":{"id":"r"},"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]`,
			`"x_groq":{"id":"r","usage":{"queue_time":0.5}},"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cost":3}`)
		want := bodyHead + `{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop","logprobs":null}],` +
			`"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cost":3},"x_groq":{"id":"r","usage":{"queue_time":0.5}}}`
		if string(body) != want {
			t.Fatalf("merged body\n%s\nwant\n%s", body, want)
		}
		if events, again := bodyAsStream(t, KindChat, body); string(again) != want ||
			!bytes.HasSuffix(events[len(events)-1], []byte(`"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cost":3}}`)) {
			t.Errorf("body → stream → body:\n%s\nevents %s", again, events)
		}
	})
	t.Run("a name that is not plain ASCII", func(t *testing.T) {
		body := merge(t, `"é":1,"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]`,
			`"choices":[],"usage":{"prompt_tokens":1,"cost":2}`)
		if events, again := bodyAsStream(t, KindChat, body); string(again) != string(body) ||
			!bytes.HasSuffix(events[len(events)-1], []byte(`"usage":{"prompt_tokens":1,"cost":2}}`)) {
			t.Errorf("body → stream → body:\n%s\nwant\n%s\nevents %s", again, body, events)
		}
	})
	t.Run("the other form's field", func(t *testing.T) { // a message in a chunk, a delta in a body
		body := merge(t, `"choices":[{"index":0,"delta":{"content":"a"},"message":{"content":"b"},"finish_reason":"stop"}]`)
		if bytes.Count(body, []byte(`"message"`)) != 1 {
			t.Errorf("merged body %s, want one message", body)
		}
		body = []byte(bodyHead + `{"index":0,"message":{"role":"assistant","content":"a"},"delta":{"content":"X"},"finish_reason":"stop"}]}`)
		events, _ := bodyAsStream(t, KindChat, body)
		for _, ev := range events {
			if bytes.Count(ev, []byte(`"delta"`)) > 1 {
				t.Errorf("event %s has two deltas", ev)
			}
		}
	})
	t.Run("round trips", func(t *testing.T) {
		for _, body := range []string{
			// nulls inside the objects of a choice and of the response
			bodyHead + `{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop","logprobs":null,"x":{"a":null,"b":[]}}],"y":{"c":null}}`,
			// a message's name, which no typed field of a delta holds
			bodyHead + `{"index":0,"message":{"role":"assistant","content":"a","name":"bob"},"finish_reason":"stop","logprobs":null}]}`,
		} {
			if _, again := bodyAsStream(t, KindChat, []byte(body)); string(again) != body {
				t.Errorf("body → stream → body:\n%s\nwant\n%s", again, body)
			}
		}
		text := `{"id":"t","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"a","logprobs":null,"finish_reason":"stop"}],"service_tier":"default"}`
		if _, again := bodyAsStream(t, KindCompletion, []byte(text)); string(again) != text {
			t.Errorf("body → stream → body:\n%s\nwant\n%s", again, text)
		}
	})
	t.Run("an index twice", func(t *testing.T) {
		body := bodyHead + `{"index":0,"message":{"content":"a","reasoning_content":"r"},"finish_reason":"stop","token_ids":[1]},` +
			`{"index":0,"message":{"content":"b","reasoning_content":"s"},"finish_reason":"stop","token_ids":[2]}]}`
		events, again := bodyAsStream(t, KindChat, []byte(body))
		if n := bytes.Count(bytes.Join(events, nil), []byte(`"token_ids"`)); n != 1 || !bytes.Contains(again, []byte(`"reasoning_content":"rs"`)) {
			t.Errorf("token_ids %d times in %s; merged again %s", n, events, again)
		}
	})
	t.Run("choices twice", func(t *testing.T) { // encoding/json reads the last
		body := merge(t, `"choices":[{"index":0,"x":1,"delta":{"y":1}}],"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]`)
		if bytes.Contains(body, []byte(`"x"`)) || bytes.Contains(body, []byte(`"y"`)) {
			t.Errorf("merged body %s keeps the members of the choices encoding/json passes over", body)
		}
		body = merge(t, `"choices":[{"index":0,"delta":{"y":1},"delta":{"content":"a"},"finish_reason":"stop"}]`)
		if bytes.Contains(body, []byte(`"y"`)) {
			t.Errorf("merged body %s keeps the members of the delta encoding/json passes over", body)
		}
	})
	t.Run("a response's array is restated", func(t *testing.T) {
		body := merge(t, `"p":[1],"choices":[{"index":0,"delta":{"content":"a"}}]`, `"p":[2],"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`)
		if !bytes.HasSuffix(body, []byte(`,"p":[2]}`)) {
			t.Errorf("merged body %s, want the last p", body)
		}
	})
}

// TestSpliceEmptyObject: splice writes no comma before the first member
// of an empty object.
func TestSpliceEmptyObject(t *testing.T) {
	var s extraSet
	if err := s.add(levelTop, 0, []byte("x"), []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	got, err := splice([]byte(`{}`), s.top, nil, "")
	if err != nil || string(got) != `{"x":1}` {
		t.Errorf("splice = %s, %v; want {\"x\":1}", got, err)
	}
}

// TestBodyStreamUsage: a body stored without usage, whose usage the tap
// counted, is served to include_usage with a usage chunk.
func TestBodyStreamUsage(t *testing.T) {
	u := &wire.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}
	for kind, body := range map[Kind]string{
		KindChat:       `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}`,
		KindCompletion: `{"id":"c1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"Hi","finish_reason":"stop"}]}`,
	} {
		e, err := NewBodyEntry(kind, 200, []byte(body), t0)
		if err != nil {
			t.Fatal(err)
		}
		e.Usage = u // as the middleware sets it
		evs, err := e.StreamEvents(true)
		if err != nil || !lastIsUsage(evs) {
			t.Fatalf("%v: events %q (%v), want a usage chunk last", kind, evs, err)
		}
		var last struct{ Usage *wire.Usage }
		if err := json.Unmarshal(evs[len(evs)-1], &last); err != nil || *last.Usage != *u {
			t.Errorf("%v: usage chunk %s, want %+v", kind, evs[len(evs)-1], *u)
		}
	}
}

// TestConversionMergesObjects: an object member of the deltas is merged
// member by member, as OpenAI streams audio in pieces.
func TestConversionMergesObjects(t *testing.T) {
	e := record(t, KindChat, []string{
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","audio":{"id":"au_1","data":"AAA","transcript":"Hel"}}}]}`,
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"audio":{"data":"BBB","transcript":"lo","expires_at":9,"meta":null}}}]}`,
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"audio":{"expires_at":10}},"finish_reason":"stop"}]}`,
	})
	b, err := e.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Choices []struct {
			Message struct{ Audio json.RawMessage } `json:"message"`
		} `json:"choices"`
	}
	want := `{"id":"au_1","data":"AAABBB","transcript":"Hello","expires_at":10}`
	if err := json.Unmarshal(b, &got); err != nil || len(got.Choices) != 1 || string(got.Choices[0].Message.Audio) != want {
		t.Errorf("merged %s (%v), want audio %s", b, err, want)
	}
}

// TestConversionUsageAsSent: a conversion carries the usage the upstream
// sent member for member — zero details and members the wire types lack,
// such as DeepSeek's prompt_cache_hit_tokens — in both directions.
func TestConversionUsageAsSent(t *testing.T) {
	const usage = `{"prompt_tokens":31,"completion_tokens":12,"total_tokens":43,` +
		`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},` +
		`"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":31,"cost":0.0000123}`
	usageOf := func(t *testing.T, data []byte) string {
		t.Helper()
		var v struct{ Usage json.RawMessage }
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		return string(v.Usage)
	}
	// The usage chunk pretty-printed, as a Python server may send it.
	pretty := strings.ReplaceAll(strings.ReplaceAll(usage, ",", ", "), ":", ": ")
	streams := map[Kind][]string{
		KindChat: append(slices.Clone(chatStream[:len(chatStream)-1]),
			`{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage": `+pretty+`}`),
		KindCompletion: {
			`{"id":"c1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"Hi","finish_reason":"stop"}],"usage":null}`,
			`{"id":"c1","object":"text_completion","created":1,"model":"m","choices":[],"usage":` + usage + `}`,
		},
	}
	for kind, events := range streams {
		body, err := record(t, kind, events).JSON()
		if err != nil {
			t.Fatal(err)
		}
		if got := usageOf(t, body); got != usage {
			t.Errorf("%v stream -> JSON: usage\n%s\nwant\n%s", kind, got, usage)
		}
	}
	bodies := map[Kind]string{
		KindChat:       `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage": ` + pretty + `}`,
		KindCompletion: `{"id":"c1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"Hi","finish_reason":"stop"}],"usage":` + usage + `}`,
	}
	for kind, body := range bodies {
		e, err := NewBodyEntry(kind, 200, []byte(body), t0)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := e.StreamEvents(true)
		if err != nil || !lastIsUsage(evs) {
			t.Fatalf("%v: events %q (%v), want a usage chunk last", kind, evs, err)
		}
		if got := usageOf(t, evs[len(evs)-1]); got != usage {
			t.Errorf("%v JSON -> stream: usage\n%s\nwant\n%s", kind, got, usage)
		}
	}
}

func TestTopMember(t *testing.T) {
	for _, tc := range []struct {
		data, want string
	}{
		{`{"usage":{"a":1}}`, `{"a":1}`},
		{` { "x" : [1,{"usage":2}] , "usage" : null } `, `null`},
		{`{"usage":1,"usage":{"b":2}}`, ``}, // twice: encoding/json merges objects
		{`{"usagex":1,"xusage":2}`, ``},
		{`{}`, ``},
		{`[{"usage":1}]`, ``},
		{`{"usage":`, ``},
		{`{"a":1 "usage":2}`, ``},
		{`{"Usage":1,"usage":{"b":2}}`, ``},      // a case twin
		{`{"u\u0073age":1,"usage":{"b":2}}`, ``}, // an escaped name
		{`{"usage":{"b":2},"uſage":1}`, ``},      // a name that folds to it
	} {
		s, e, ok := topMember([]byte(tc.data), "usage")
		got := ""
		if ok {
			got = tc.data[s:e]
		}
		if got != tc.want {
			t.Errorf("topMember(%s) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

// TestConversionUsageAsRead: when a body names usage so that encoding/json
// reads another value than the member a conversion would splice (a case
// twin, an escaped name, a repeated object merged), the conversion writes
// the usage as read, which is the one the entry was billed by.
func TestConversionUsageAsRead(t *testing.T) {
	for name, usage := range map[string]string{
		"case twin":      `"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"Usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}`,
		"escaped name":   `"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"u\u0073age":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}`,
		"merged objects": `"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11},"usage":{"completion_tokens":1}`,
	} {
		body := `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],` + usage + `}`
		var read struct{ Usage wire.Usage }
		if err := json.Unmarshal([]byte(body), &read); err != nil {
			t.Fatal(err)
		}
		e, err := NewBodyEntry(KindChat, 200, []byte(body), t0)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := e.StreamEvents(true)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Usage wire.Usage }
		if err := json.Unmarshal(evs[len(evs)-1], &got); err != nil || !reflect.DeepEqual(got.Usage, read.Usage) {
			t.Errorf("%s: usage chunk %s (%v), want %+v as encoding/json reads the body", name, evs[len(evs)-1], err, read.Usage)
		}
	}
}

// TestConversionUsageInAChunk: usage in a chunk other than a usage chunk
// is carried as sent when it is the usage read, and not when a later chunk
// holds usage under a name only encoding/json reads.
func TestConversionUsageInAChunk(t *testing.T) {
	const u = `{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_cache_hit_tokens":0}`
	head := `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}],`
	for name, tc := range map[string]struct {
		events []string
		want   string
	}{
		"in the finish chunk": {[]string{head + `"usage":` + u + `}`}, u},
		"a later escaped name": {[]string{head + `"usage":` + u + `}`,
			`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{}}],"u\u0073age":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}`},
			`{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}`},
	} {
		body, err := record(t, KindChat, tc.events).JSON()
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Usage json.RawMessage }
		if err := json.Unmarshal(body, &got); err != nil || string(got.Usage) != tc.want {
			t.Errorf("%s: usage %s (%v), want %s", name, got.Usage, err, tc.want)
		}
	}
}

// TestConversionKeepsHTMLCharacters: a conversion writes <, > and & in
// content as they are, as OpenAI does, not as \u003c.
func TestConversionKeepsHTMLCharacters(t *testing.T) {
	body, err := record(t, KindChat, chatStream).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"Let me check <both> & more."`)) {
		t.Errorf("body %s", body)
	}
}

// TestCustomToolCallStreamToBody: a custom tool call streamed in pieces
// of custom.input merges into one call with the whole input, beside a
// function call, and a body with custom calls streams back to itself.
func TestCustomToolCallStreamToBody(t *testing.T) {
	const head = `{"id":"c1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":`
	events := []string{
		head + `{"role":"assistant","content":null},"finish_reason":null}]}`,
		head + `{"tool_calls":[{"index":0,"id":"call_a","type":"custom","custom":{"name":"apply_patch","input":""}}]},"finish_reason":null}]}`,
		head + `{"tool_calls":[{"index":0,"custom":{"input":"*** Begin"}}]},"finish_reason":null}]}`,
		head + `{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]},"finish_reason":null}]}`,
		head + `{"tool_calls":[{"index":0,"custom":{"input":" Patch"}}]},"finish_reason":null}]}`,
		head + `{},"finish_reason":"tool_calls"}]}`,
	}
	body, err := record(t, KindChat, events).JSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `"tool_calls":[{"id":"call_a","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch"}},` +
		`{"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]`
	if !strings.Contains(string(body), want) {
		t.Fatalf("merged body %s\nwant it to hold %s", body, want)
	}
	if _, again := bodyAsStream(t, KindChat, body); !strings.Contains(string(again), want) {
		t.Errorf("body streamed and merged again: %s", again)
	}
}
