package middleware

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// The moderation filters must judge any valid JSON the same way as its
// compact form: whitespace wherever JSON allows it, members in any order,
// escaped keys. A Python server using json.dumps' defaults writes ", " and
// ": " between members.

const modHarmful = "I will kill you, you worthless idiot. Mail alice@example.org"

// modFormats are the ways a server may lay out the same JSON value.
var modFormats = []struct {
	name string
	fmt  func(compact []byte) []byte
}{
	{"compact", func(b []byte) []byte { return b }},
	{"python separators", modPySeparators},
	{"indented", func(b []byte) []byte {
		var out bytes.Buffer
		_ = json.Indent(&out, b, "", "  ")
		return out.Bytes()
	}},
	{"tabs and CRLF", func(b []byte) []byte {
		var out bytes.Buffer
		_ = json.Indent(&out, b, "\r\n", "\t")
		return append([]byte(" \t"), append(bytes.ReplaceAll(out.Bytes(), []byte("\n"), []byte("\n ")), "\r\n"...)...)
	}},
}

// modPySeparators rewrites compact JSON with Python's default separators.
func modPySeparators(b []byte) []byte {
	var out []byte
	in, esc := false, false
	for _, c := range b {
		out = append(out, c)
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ',' || c == ':'):
			out = append(out, ' ')
		}
	}
	return out
}

// modChunkJSON is a chat chunk whose only choice carries content (or a
// finish_reason, or a role).
func modChunkJSON(role, content, finish string) []byte {
	delta := map[string]any{}
	if role != "" {
		delta["role"] = role
	}
	if content != "" {
		delta["content"] = content
	}
	choice := map[string]any{"index": 0, "delta": delta, "finish_reason": nil}
	if finish != "" {
		choice["finish_reason"] = finish
	}
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7,
		"model": "gpt-4o-mini", "system_fingerprint": "fp", "choices": []any{choice}})
	return b
}

// modRawStream streams the events as they are, then [DONE].
func modRawStream(events ...[]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		for _, ev := range events {
			_ = sw.WriteData(ev)
		}
		_ = sw.WriteDone()
	}
}

// modStreamFinal returns the last event before [DONE] of a stream, which
// must be well formed.
func modStreamFinal(t *testing.T, body []byte) (modSSE, wire.ChatCompletionChunk, *wire.Error) {
	t.Helper()
	got := modParseSSE(t, body)
	if !got.done || len(got.events) == 0 {
		t.Fatalf("stream did not end with [DONE]: %s", body)
	}
	var final struct {
		wire.ChatCompletionChunk
		Error *wire.Error `json:"error"`
	}
	if err := json.Unmarshal(got.events[len(got.events)-1], &final); err != nil {
		t.Fatal(err)
	}
	return got, final.ChatCompletionChunk, final.Error
}

func TestModerateStreamAnyJSONLayout(t *testing.T) {
	escaped := []byte(`{"choices": [ {"finish_reason" : null ,"delta":{"c\u006fntent":` + string(mustJSON(modHarmful)) +
		`},  "index":0 } ] , "model":"gpt-4o-mini","id":"chatcmpl-1", "created":7 ,"object":"chat.completion.chunk"}`)
	type stream struct {
		name   string
		events [][]byte
	}
	var streams []stream
	for _, f := range modFormats {
		streams = append(streams, stream{f.name, [][]byte{
			f.fmt(modChunkJSON("assistant", "", "")),
			f.fmt(modChunkJSON("", modHarmful, "")),
			f.fmt(modChunkJSON("", "", "stop")),
		}})
	}
	streams = append(streams, stream{"members reordered, escaped key", [][]byte{modChunkJSON("assistant", "", ""), escaped, modChunkJSON("", "", "stop")}})
	for _, st := range streams {
		t.Run(st.name, func(t *testing.T) {
			flagged := 0
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff, OnOutputFlagged: func(*http.Request, wire.ModerationResult) { flagged++ }},
				modRawStream(st.events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "kill") || strings.Contains(rec.Body.String(), "idiot") {
				t.Errorf("flagged text reached the client:\n%s", rec.Body)
			}
			got, final, e := modStreamFinal(t, rec.Body.Bytes())
			if got.text != "" || e == nil || e.Code != wire.CodeContentPolicyViolation ||
				len(final.Choices) != 1 || final.Choices[0].FinishReason != wire.FinishContentFilter {
				t.Errorf("text %q, final event %s: want a cut with content_filter", got.text, got.events[len(got.events)-1])
			}
			if flagged != 1 {
				t.Errorf("OnOutputFlagged called %d times, want 1", flagged)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestModerateStreamCleanAnyJSONLayout(t *testing.T) {
	// The same layouts with clean text pass, and the text is unchanged.
	const clean = "The capital of France is Paris, and it is lovely in spring."
	for _, f := range modFormats {
		t.Run(f.name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(
				f.fmt(modChunkJSON("assistant", "", "")),
				f.fmt(modChunkJSON("", clean[:20], "")),
				f.fmt(modChunkJSON("", clean[20:], "")),
				f.fmt(modChunkJSON("", "", "stop"))))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			got, final, e := modStreamFinal(t, rec.Body.Bytes())
			if got.text != clean || e != nil || len(final.Choices) != 1 || final.Choices[0].FinishReason != wire.FinishStop {
				t.Errorf("text %q, final %s", got.text, got.events[len(got.events)-1])
			}
		})
	}
}

func TestModerateStreamFailsClosed(t *testing.T) {
	// A data event the filter cannot read as a chunk is never forwarded:
	// the stream is cut as when the moderator fails. So is a chunk whose
	// content two parsers could read differently.
	tests := []struct {
		name string
		data string
	}{
		{"NaN (Python's json.loads reads it)", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful + `"}}],"x":NaN}`},
		{"trailing comma", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful + `"},}]}`},
		{"single quotes", `{'choices':[{'index':0,'delta':{'content':'` + modHarmful + `'}}]}`},
		{"not an object", `["` + modHarmful + `"]`},
		{"index not an integer", `{"choices":[{"index":"0","delta":{"content":"` + modHarmful + `"}}]}`},
		{"duplicate content", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful + `","content":null}}]}`},
		{"duplicate delta", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful + `"},"delta":{"content":""}}]}`},
		{"duplicate index", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful + `"},"index":1}]}`},
		{"content parts", `{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"` + modHarmful + `"}]}}]}`},
		{"truncated", `{"choices":[{"index":0,"delta":{"content":"` + modHarmful},
		// encoding/json reads a member whose name differs only in case.
		{"Choices beside choices", `{"choices":[],"Choices":[{"index":0,"delta":{"content":"` + modHarmful + `"}}]}`},
		{"Delta", `{"choices":[{"index":0,"Delta":{"content":"` + modHarmful + `"}}]}`},
		{"Content beside content", `{"choices":[{"index":0,"delta":{"content":"Paris.","CONTENT":"` + modHarmful + `"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modChunkJSON("assistant", "", ""), []byte(tt.data), modChunkJSON("", "", "stop")))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			if strings.Contains(rec.Body.String(), "kill") {
				t.Errorf("unreadable chunk reached the client:\n%s", rec.Body)
			}
			_, final, e := modStreamFinal(t, rec.Body.Bytes())
			if e == nil || len(final.Choices) != 1 || final.Choices[0].FinishReason != wire.FinishContentFilter {
				t.Errorf("final event %+v, error %+v: want a cut", final, e)
			}
		})
	}
}

func TestModerateStreamErrorMember(t *testing.T) {
	// An upstream error event passes as it is; a chunk with an "error"
	// member and content has its content moderated all the same.
	errEvent := `{"error":{"message":"upstream failed","type":"server_error","param":null,"code":null}}`
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream([]byte(errEvent)))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	if !strings.Contains(rec.Body.String(), "data: "+errEvent+"\n") {
		t.Errorf("error event did not pass:\n%s", rec.Body)
	}
	for _, v := range []string{"null", `{"message":"x"}`} {
		data := `{"error":` + v + `,"choices":[{"index":0,"delta":{"content":"` + modHarmful + `"}}]}`
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modChunkJSON("assistant", "", ""), []byte(data)))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if strings.Contains(rec.Body.String(), "kill") {
			t.Errorf("error %s: content reached the client:\n%s", v, rec.Body)
		}
	}
}

func TestModerateOutputJSONAnyLayout(t *testing.T) {
	// The non-stream filter, on the same layouts.
	completion := mustJSON(map[string]any{"id": "c", "object": "chat.completion", "created": 7, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": modHarmful}, "finish_reason": "stop", "logprobs": nil}},
		"usage":   map[string]any{"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25}})
	bodies := map[string][]byte{}
	for _, f := range modFormats {
		bodies[f.name] = f.fmt(completion)
	}
	bodies["members reordered, escaped key"] = []byte(`{"choices" : [{"finish_reason":"stop", "message":{"c\u006fntent" : ` +
		string(mustJSON(modHarmful)) + `, "role":"assistant"}, "index":0}], "id":"c"}`)
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
			})
			rec := postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
			var got wire.ChatCompletion
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
				t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "kill") || len(got.Choices) != 1 ||
				got.Choices[0].FinishReason != wire.FinishContentFilter || !got.Choices[0].Message.Content.IsZero() {
				t.Errorf("body %s: want the content withheld with content_filter", rec.Body)
			}
		})
	}
	// Bodies the filter cannot judge are refused: duplicate content members
	// (clients disagree on which one counts), case twins.
	for _, body := range []string{
		`{"choices":[{"index":0,"message":{"role":"assistant","content":"` + modHarmful + `","content":"Hello."},"finish_reason":"stop"}]}`,
		`{"choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","Content":"` + modHarmful + `"},"finish_reason":"stop"}]}`,
		`{"choices":[],"CHOICES":[{"index":0,"message":{"role":"assistant","content":"` + modHarmful + `"},"finish_reason":"stop"}]}`,
		`{"choices":[{"index":0,"Message":{"role":"assistant","content":"` + modHarmful + `"},"finish_reason":"stop"}]}`,
	} {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		})
		rec := postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
		if strings.Contains(rec.Body.String(), "kill") || rec.Code != http.StatusBadGateway {
			t.Errorf("status %d, body %s: want 502", rec.Code, rec.Body)
		}
	}
}

// TestModerateStreamNamedEvents: openai-go reads an event of any type but
// thread.* as a chunk, so a chunk sent as "event: delta" is filtered like
// any other, and keeps its type.
func TestModerateStreamNamedEvents(t *testing.T) {
	named := func(typ string, data []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			sw := wire.NewWriter(w)
			_ = sw.WriteData(modChunkJSON("assistant", "", ""))
			_ = sw.WriteEvent(wire.Event{Type: typ, Data: data})
			_ = sw.WriteData(modChunkJSON("", "", "stop"))
			_ = sw.WriteDone()
		}
	}
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, named("delta", modChunkJSON("", modHarmful, "")))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	if strings.Contains(rec.Body.String(), "kill") {
		t.Errorf("a harmful chunk of type delta reached the client:\n%s", rec.Body)
	}
	if _, final, e := modStreamFinal(t, rec.Body.Bytes()); e == nil || len(final.Choices) != 1 || final.Choices[0].FinishReason != wire.FinishContentFilter {
		t.Errorf("final event %+v, error %+v: want a cut", final, e)
	}
	// Clean text passes (held back and released like any other); a chunk
	// the filter leaves as it is keeps its type.
	h, _ = modTestChain(t, ModerateConfig{Input: InputOff}, named("delta", modChunkJSON("", "Paris is the capital of France.", "")))
	if body := postJSON(h, "/v1/chat/completions", modStreamReq()).Body.String(); !strings.Contains(body, "Paris is the capital of France.") {
		t.Errorf("clean text of type delta did not pass:\n%s", body)
	}
	usage := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	h, _ = modTestChain(t, ModerateConfig{Input: InputOff}, named("usage", usage))
	if body := postJSON(h, "/v1/chat/completions", modStreamReq()).Body.String(); !strings.Contains(body, "event: usage\ndata: "+string(usage)+"\n") {
		t.Errorf("an unchanged chunk of type usage lost its type:\n%s", body)
	}
}

// TestModerateOutputReasoningAndParts: in a chat completion the filter
// judges every text a client may show — content as a string or as an
// array of parts (Mistral's thinking parts included), and the reasoning
// vLLM, llama.cpp, DeepSeek (reasoning_content) and Ollama (reasoning)
// send — and withholds all of a flagged choice's texts.
func TestModerateOutputReasoningAndParts(t *testing.T) {
	harmful := string(mustJSON(modHarmful))
	args := string(mustJSON(`{"text":` + harmful + `}`)) // arguments: a string of JSON text
	// The threat alone, its k escaped in the arguments' JSON text: flagged
	// only when judged as the tool reads it.
	escArgs := string(mustJSON(`{"text":"I will \u006bill you."}`))
	answer := func(message string) []byte {
		return []byte(`{"id":"c","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant",` +
			message + `},"finish_reason":"stop"}]}`)
	}
	serve := func(body []byte) *httptest.ResponseRecorder {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		return postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
	}
	flagged := map[string]string{
		"reasoning_content":           `"reasoning_content":` + harmful + `,"content":"Fine."`,
		"reasoning":                   `"content":"Fine.","reasoning":` + harmful,
		"text part":                   `"content":[{"type":"text","text":` + harmful + `}]`,
		"mistral thinking part":       `"content":[{"type":"thinking","thinking":[{"type":"text","text":` + harmful + `}]},{"type":"text","text":"Fine."}]`,
		"refusal part":                `"content":[{"type":"refusal","refusal":` + harmful + `}]`,
		"split across parts":          `"content":[{"type":"text","text":"I will kill"},{"type":"text","text":"you, you worthless idiot."}]`,
		"reasoning_content, no text":  `"content":null,"reasoning_content":` + harmful,
		"tool call arguments":         `"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"post","arguments":` + args + `}}]`,
		"tool call arguments escaped": `"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"post","arguments":` + escArgs + `}}]`,
		"second tool call":            `"content":"Posting.","tool_calls":[{"function":{"name":"a","arguments":"{}"}},{"function":{"name":"post","arguments":` + args + `}}]`,
		"arguments as an object":      `"content":null,"tool_calls":[{"function":{"name":"post","arguments":{"text":` + harmful + `}}}]`,
		"legacy function_call":        `"content":null,"function_call":{"name":"post","arguments":` + args + `}`,
		"arguments not JSON":          `"content":null,"tool_calls":[{"function":{"name":"post","arguments":` + string(mustJSON(`{"text":"I will \u006bill you.","n":NaN}`)) + `}}]`,
		"content, with a clean call":  `"content":` + harmful + `,"tool_calls":[{"function":{"name":"post","arguments":"{}"}}]`,
		"custom tool call input":      `"content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{"name":"post","input":` + harmful + `}}]`,
		"custom input escaped":        `"content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{"name":"post","input":` + escArgs + `}}]`,
		"custom call after a function": `"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"a","arguments":"{}"}},` +
			`{"id":"c2","type":"custom","custom":{"name":"post","input":` + harmful + `}}]`,
		"custom beside function":    `"content":null,"tool_calls":[{"type":"function","function":{"name":"a","arguments":"{}"},"custom":{"input":` + harmful + `}}]`,
		"custom input not a string": `"content":null,"tool_calls":[{"type":"custom","custom":{"name":"post","input":{"text":` + harmful + `}}}]`,
	}
	for name, msg := range flagged {
		t.Run(name, func(t *testing.T) {
			rec := serve(answer(msg))
			var got struct {
				Choices []struct {
					Message      map[string]any `json:"message"`
					FinishReason string         `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || len(got.Choices) != 1 {
				t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "kill") || got.Choices[0].FinishReason != string(wire.FinishContentFilter) {
				t.Errorf("body %s: want every text withheld, with content_filter", rec.Body)
			}
			for _, k := range []string{"content", "reasoning_content", "reasoning", "tool_calls", "function_call"} {
				if v, ok := got.Choices[0].Message[k]; ok && v != nil {
					t.Errorf("%s = %v, want null", k, v)
				}
			}
		})
	}
	// Clean answers pass byte for byte, whatever their shape.
	for _, msg := range []string{
		`"content":[{"type":"thinking","thinking":[{"type":"text","text":"Paris is the capital."}]},{"type":"text","text":"Paris."}]`,
		`"content":"Paris.","reasoning_content":"The user asks for a capital."`,
		`"content":"Paris.","reasoning":"The user asks for a capital.","reasoning_content":null`,
		`"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"capital","arguments":"{\"country\":\"France\"}"}}]`,
		`"content":null,"tool_calls":null,"function_call":{"name":"capital","arguments":"{}"}`,
		`"content":null,"tool_calls":[{"id":"c1","type":"custom","custom":{"name":"capital","input":"France"}}]`,
	} {
		body := answer(msg)
		if rec := serve(body); rec.Code != 200 || rec.Body.String() != string(body) {
			t.Errorf("clean answer changed: status %d\n got %s\nwant %s", rec.Code, rec.Body, body)
		}
	}
	// What the filter cannot judge is refused.
	for _, msg := range []string{
		`"content":"Fine.","reasoning_content":"Fine.","reasoning_content":` + harmful, // which one counts?
		`"content":"Fine.","Reasoning_content":` + harmful,                             // a case twin
		`"content":"Fine.","reasoning":{"text":` + harmful + `}`,                       // not a string
		`"content":"Fine.","Tool_calls":[{"function":{"arguments":` + args + `}}]`,     // a case twin
		`"tool_calls":[{"function":{"arguments":"{}","Arguments":` + args + `}}]`,      // a case twin
		`"tool_calls":[{"function":{"arguments":"{}","arguments":` + args + `}}]`,      // which one counts?
		`"tool_calls":[{"function":{"arguments":"{}"},"function":{"arguments":` + args + `}}]`,
		`"content":"Fine.","tool_calls":{"function":{"arguments":` + args + `}}`, // not an array
		`"content":"Fine.","tool_calls":[{"function":"x"}]`,                      // not an object
		`"content":"Fine.","tool_calls":[{"custom":"x"}]`,                        // not an object
		`"tool_calls":[{"custom":{"input":"{}","Input":` + args + `}}]`,          // a case twin
		`"tool_calls":[{"custom":{"input":"{}","input":` + args + `}}]`,          // which one counts?
		`"tool_calls":[{"custom":{"input":"{}"},"custom":{"input":` + args + `}}]`,
		`"tool_calls":[{"Custom":{"input":` + args + `}}]`, // a case twin
	} {
		if rec := serve(answer(msg)); rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "kill") {
			t.Errorf("%s: status %d, body %s: want 502", msg, rec.Code, rec.Body)
		}
	}
}
