package middleware

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// modCallChunks streams a tool call as servers do: a first chunk with its
// index, id and name and empty arguments, then its arguments (JSON text)
// in pieces of four bytes.
func modCallChunks(index int, name, args string) [][]byte {
	idx := string(mustJSON(index))
	events := [][]byte{modReasoningChunk(`"tool_calls":[{"index":`+idx+`,"id":"call_`+idx+`","type":"function","function":{"name":`+
		string(mustJSON(name))+`,"arguments":""}}]`, "")}
	for len(args) > 0 {
		n := min(4, len(args))
		events = append(events, modReasoningChunk(`"tool_calls":[{"index":`+idx+`,"function":{"arguments":`+string(mustJSON(args[:n]))+`}}]`, ""))
		args = args[n:]
	}
	return events
}

// modCustomCallChunks streams a custom tool call as modCallChunks streams
// a function call: its input in pieces of four bytes in
// delta.tool_calls[].custom.input.
func modCustomCallChunks(index int, name, input string) [][]byte {
	idx := string(mustJSON(index))
	events := [][]byte{modReasoningChunk(`"tool_calls":[{"index":`+idx+`,"id":"call_`+idx+`","type":"custom","custom":{"name":`+
		string(mustJSON(name))+`,"input":""}}]`, "")}
	for len(input) > 0 {
		n := min(4, len(input))
		events = append(events, modReasoningChunk(`"tool_calls":[{"index":`+idx+`,"custom":{"input":`+string(mustJSON(input[:n]))+`}}]`, ""))
		input = input[n:]
	}
	return events
}

// modCustomKey is where modClientCalls puts a custom call's input.
const modCustomKey = 1000

// modClientCalls is what a client reads of a chat stream: each tool call's
// arguments by index and a custom call's input at its index plus
// modCustomKey (a client reads the two apart), the finish reasons, and
// whether an error came.
func modClientCalls(t *testing.T, body []byte) (args map[int]string, finish []string, errored bool) {
	t.Helper()
	args = map[int]string{}
	for _, ev := range modParseSSE(t, body).events {
		var ch struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						Index    int `json:"index"`
						Function struct {
							Arguments string `json:"arguments"`
						} `json:"function"`
						Custom struct {
							Input string `json:"input"`
						} `json:"custom"`
					} `json:"tool_calls"`
					FunctionCall *struct {
						Arguments string `json:"arguments"`
					} `json:"function_call"`
				} `json:"delta"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Error *wire.Error `json:"error"`
		}
		if err := json.Unmarshal(ev, &ch); err != nil {
			t.Fatalf("event %s: %v", ev, err)
		}
		errored = errored || ch.Error != nil
		for _, c := range ch.Choices {
			for _, tc := range c.Delta.ToolCalls {
				args[tc.Index] += tc.Function.Arguments
				if tc.Custom.Input != "" {
					args[tc.Index+modCustomKey] += tc.Custom.Input
				}
			}
			if fc := c.Delta.FunctionCall; fc != nil {
				args[-1] += fc.Arguments
			}
			if c.FinishReason != "" {
				finish = append(finish, c.FinishReason)
			}
		}
	}
	return args, finish, errored
}

// TestModerateStreamToolCalls: a streamed tool call's arguments are
// judged once the call is complete, its chunks held until then, so that a
// client never gets any of a flagged call.
func TestModerateStreamToolCalls(t *testing.T) {
	const clean = `{"city":"Paris","days":3}`
	harmful := `{"text":` + string(mustJSON(modHarmful)) + `}`
	escaped := `{"text":"I will \u006bill you."}` // flagged only as the tool reads it
	cat := func(parts ...[][]byte) [][]byte {
		var out [][]byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	role := [][]byte{modReasoningChunk(`"role":"assistant","content":null`, "")}
	finish := [][]byte{modReasoningChunk("", "tool_calls")}
	for _, tc := range []struct {
		name   string
		events [][]byte
		want   map[int]string // the flagged calls, whose arguments the client must not get: nil for a clean stream
	}{
		{"clean calls pass", cat(role, modCallChunks(0, "weather", clean), modCallChunks(1, "weather", clean), finish), nil},
		{"first call flagged, cut before the second starts", cat(role, modCallChunks(0, "post", harmful), modCallChunks(1, "weather", clean), finish),
			map[int]string{0: harmful}},
		{"last call flagged, cut before the finish", cat(role, modCallChunks(0, "weather", clean), modCallChunks(1, "post", harmful), finish),
			map[int]string{1: harmful}},
		{"escaped in the arguments", cat(role, modCallChunks(0, "post", escaped), finish), map[int]string{0: escaped}},
		{"whole call in the finish chunk", cat(role, [][]byte{modReasoningChunk(`"tool_calls":[{"index":0,"function":{"name":"post","arguments":`+
			string(mustJSON(harmful))+`}}]`, "tool_calls")}), map[int]string{0: harmful}},
		{"legacy function_call", cat(role, [][]byte{
			modReasoningChunk(`"function_call":{"name":"post","arguments":`+string(mustJSON(harmful[:9]))+`}`, ""),
			modReasoningChunk(`"function_call":{"arguments":`+string(mustJSON(harmful[9:]))+`}`, ""),
		}, [][]byte{modReasoningChunk("", "function_call")}), map[int]string{-1: harmful}},
		{"stream ends without a finish", cat(role, modCallChunks(0, "post", harmful)), map[int]string{0: harmful}},
		{"arguments that are not JSON", cat(role, modCallChunks(0, "post", `{"text":"I will \u006bill you.","n":NaN}`), finish),
			map[int]string{0: ""}},
		{"arguments cut short", cat(role, modCallChunks(0, "post", `{"text":"I will \u006bill you.`), [][]byte{modReasoningChunk("", "length")}),
			map[int]string{0: ""}},
		{"arguments that are a string of JSON", cat(role, modCallChunks(0, "post", string(mustJSON(escaped))), finish), map[int]string{0: ""}},
		// A custom tool call's input is judged as arguments are.
		{"clean custom calls pass", cat(role, modCustomCallChunks(0, "note", clean), modCustomCallChunks(1, "note", clean), finish), nil},
		{"clean function and custom calls pass", cat(role, modCallChunks(0, "weather", clean), modCustomCallChunks(1, "note", clean), finish), nil},
		{"custom call input flagged", cat(role, modCustomCallChunks(0, "post", modHarmful), finish), map[int]string{0: modHarmful}},
		{"custom call after a clean function call", cat(role, modCallChunks(0, "weather", clean), modCustomCallChunks(1, "post", modHarmful), finish),
			map[int]string{1: modHarmful}},
		{"custom call before a clean one", cat(role, modCustomCallChunks(0, "post", modHarmful), modCustomCallChunks(1, "note", clean), finish),
			map[int]string{0: modHarmful}},
		{"custom input escaped", cat(role, modCustomCallChunks(0, "post", `I will kill you.`), finish), map[int]string{0: ""}},
		{"whole custom call in the finish chunk", cat(role, [][]byte{modReasoningChunk(`"tool_calls":[{"index":0,"type":"custom","custom":{"name":"post","input":`+
			string(mustJSON(modHarmful))+`}}]`, "tool_calls")}), map[int]string{0: modHarmful}},
		{"custom input split from function arguments", cat(role, [][]byte{
			modReasoningChunk(`"tool_calls":[{"index":0,"function":{"name":"post","arguments":"I will kill"}}]`, ""),
			modReasoningChunk(`"tool_calls":[{"index":0,"custom":{"input":" you, you worthless idiot."}}]`, ""),
		}, finish), map[int]string{0: ""}},
		{"custom stream ends without a finish", cat(role, modCustomCallChunks(0, "post", modHarmful)), map[int]string{0: modHarmful}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(tc.events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			args, fin, errored := modClientCalls(t, rec.Body.Bytes())
			if tc.want == nil {
				read := func(i int) string { return args[i] + args[i+modCustomKey] } // a call has one or the other
				if errored || read(0) != clean || read(1) != clean || len(fin) != 1 || fin[0] != "tool_calls" {
					t.Errorf("clean stream: arguments %v, finish %q, error %v\n%s", args, fin, errored, rec.Body)
				}
				if got := modParseSSE(t, rec.Body.Bytes()).events; !slices.EqualFunc(got, tc.events, func(a json.RawMessage, b []byte) bool { return bytes.Equal(a, b) }) {
					t.Errorf("clean stream changed:\n%s", rec.Body)
				}
				return
			}
			for i := range tc.want {
				if args[i] != "" || args[i+modCustomKey] != "" {
					t.Errorf("call %d reached the client: %q, %q\n%s", i, args[i], args[i+modCustomKey], rec.Body)
				}
			}
			if !errored || len(fin) != 1 || fin[0] != string(wire.FinishContentFilter) {
				t.Errorf("finish %q, error %v: want a content_filter cut\n%s", fin, errored, rec.Body)
			}
		})
	}
	// What the filter cannot judge cuts the stream, as for content.
	for _, delta := range []string{
		`"tool_calls":[{"index":-1,"function":{"arguments":"{}"}}]`,
		`"tool_calls":{"index":0,"function":{"arguments":"{}"}}`,
		`"tool_calls":["{}"]`,
		`"tool_calls":[{"index":0,"function":"{}"}]`,
		`"function_call":"{}"`,
		`"Tool_calls":[{"index":0,"function":{"arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{}","Arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{}","arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"index":1,"function":{"arguments":"{}"}}]`,
		`"tool_calls":[{"index":"0","function":{"arguments":"{}"}}]`,
		`"tool_calls":[],"function_call":{"arguments":"{}"}`,
		`"tool_calls":[{"index":0,"custom":"{}"}]`,
		`"tool_calls":[{"index":0,"Custom":{"input":"{}"}}]`,
		`"tool_calls":[{"index":0,"custom":{"input":"{}","Input":"{}"}}]`,
		`"tool_calls":[{"index":0,"custom":{"input":"{}","input":"{}"}}]`,
		`"tool_calls":[{"index":0,"custom":{"input":"{}"},"custom":{"input":"{}"}}]`,
	} {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modReasoningChunk(delta, ""), modReasoningChunk("", "stop")))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if _, fin, errored := modClientCalls(t, rec.Body.Bytes()); !errored || strings.Contains(strings.Join(fin, ","), "stop") {
			t.Errorf("%s: finish %q, error %v: want the stream cut\n%s", delta, fin, errored, rec.Body)
		}
	}
}

// TestModerateStreamToolCallsOrder: what a held tool call does to the
// rest of the stream.
func TestModerateStreamToolCallsOrder(t *testing.T) {
	call := func(choice, index int, args string) []byte {
		return []byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":` + string(mustJSON(choice)) +
			`,"delta":{"tool_calls":[{"index":` + string(mustJSON(index)) + `,"function":{"arguments":` + string(mustJSON(args)) + `}}]},"finish_reason":null}]}`)
	}
	choice := func(index int, members, finish string) []byte {
		fin := "null"
		if finish != "" {
			fin = `"` + finish + `"`
		}
		return []byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":` + string(mustJSON(index)) +
			`,"delta":{` + members + `},"finish_reason":` + fin + `}]}`)
	}
	serve := func(events ...[]byte) (*modCapture, []byte) {
		h, cp := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
		return cp, postJSON(h, "/v1/chat/completions", modStreamReq()).Body.Bytes()
	}

	t.Run("a call that goes on after it was judged", func(t *testing.T) {
		// The content shows call 0 complete: it is judged and sent; a
		// piece of it after that cannot be judged whole (nor judged again
		// and again), so it cuts, clean or not.
		_, body := serve(call(0, 0, `{"text":"Hello`), choice(0, `"content":"."`, ""), call(0, 0, ` world"}`), choice(0, "", "tool_calls"))
		args, fin, errored := modClientCalls(t, body)
		if args[0] != `{"text":"Hello` || !errored || strings.Join(fin, ",") != "content_filter" {
			t.Errorf("arguments %q, finish %q, error %v: want a cut before the rest\n%s", args[0], fin, errored, body)
		}
	})
	t.Run("another choice's finish held at the cut", func(t *testing.T) {
		_, body := serve(call(0, 0, `{"text":`), choice(1, `"content":"Paris is nice."`, ""), choice(1, "", "stop"),
			call(0, 0, string(mustJSON(modHarmful))+`}`), choice(0, "", "tool_calls"))
		_, final, e := modStreamFinal(t, body)
		if e == nil || len(final.Choices) != 2 || final.Choices[0].FinishReason != wire.FinishContentFilter ||
			final.Choices[1].FinishReason != wire.FinishContentFilter || strings.Contains(string(body), `"stop"`) {
			t.Errorf("final chunk %+v, error %v: want both choices cut\n%s", final, e, body)
		}
	})
	t.Run("a flagged call is billed once", func(t *testing.T) {
		args := `{"text":` + string(mustJSON(modHarmful)) + `}`
		events := modCallChunks(0, "post", args)
		enc, _ := tokens.Get("o200k_base")
		want := 0
		for _, ev := range events[1:] { // the pieces, each withheld alone
			var ch struct {
				Choices []struct {
					Delta struct {
						ToolCalls []struct{ Function struct{ Arguments string } } `json:"tool_calls"`
					}
				}
			}
			_ = json.Unmarshal(ev, &ch)
			want += enc.Count(ch.Choices[0].Delta.ToolCalls[0].Function.Arguments)
		}
		cp, body := serve(append(events, choice(0, "", "tool_calls"))...)
		if u := cp.call.Usage; u == nil || u.CompletionTokens < want || u.CompletionTokens > want+2 {
			t.Errorf("usage %+v, want about %d completion tokens\n%s", u, want, body)
		}
	})
	t.Run("held text is billed", func(t *testing.T) {
		clean := `{"text":"` + strings.Repeat("a calm day by the sea ", 40) + `"}`
		cp, body := serve(call(0, 0, clean), call(0, 1, `{"text":`+string(mustJSON(modHarmful))+`}`), choice(0, "", "tool_calls"))
		if !strings.Contains(string(body), "content_filter") {
			t.Fatalf("stream not cut:\n%s", body)
		}
		if u := cp.call.Usage; u == nil || u.CompletionTokens < 100 {
			t.Errorf("usage %+v: the held, then withheld, clean call was generated and is billed", u)
		}
	})
}

// TestModArgsText: a tool call's arguments are judged as a tool reads
// them, whether or not they are JSON.
func TestModArgsText(t *testing.T) {
	for in, want := range map[string]string{
		`{"t":"I will \u006bill you.","n":NaN}`: `{"t":"I will kill you.","n":NaN}`,
		`{"t":"I will \u006bill`:                `{"t":"I will kill`,
		`"{\"t\":\"I will \\u006bill you.\"}"`:  `"{"t":"I will kill you."}"`,
		`"\ud83d\ude00 \ud800 \x \u00e9\n\/\\"`: "\"😀 \ufffd \\x é\n/\"", // decoded twice: \\" then \"
		`plain`:                                 `plain`,
		`ends in \`:                             `ends in \`,
	} {
		if got := modArgsText(in); got != want {
			t.Errorf("modArgsText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestModerateStreamReasoningBeforeCall: reasoning held back when a tool
// call starts is released before the call, in the order the model wrote
// them, not after it at the finish.
func TestModerateStreamReasoningBeforeCall(t *testing.T) {
	var events [][]byte
	for _, w := range strings.Fields("The user wants the weather in Paris, so I call the tool.") {
		events = append(events, modReasoningChunk(`"reasoning_content":"`+w+` "`, ""))
	}
	events = append(events, modCallChunks(0, "weather", `{"city":"Paris"}`)...)
	events = append(events, modReasoningChunk("", "tool_calls"))
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	sawCall := false
	for _, ev := range modParseSSE(t, rec.Body.Bytes()).events {
		if sawCall && bytes.Contains(ev, []byte(`"reasoning_content"`)) {
			t.Errorf("reasoning after the call: %s\n%s", ev, rec.Body)
		}
		sawCall = sawCall || bytes.Contains(ev, []byte(`"tool_calls":[`))
	}
	if _, rc, _ := modReasoningTexts(t, rec.Body.Bytes()); rc != "The user wants the weather in Paris, so I call the tool. " {
		t.Errorf("reasoning %q\n%s", rc, rec.Body)
	}
}

// TestModerateStreamCustomInputApartFromArguments: a custom call's input
// streamed in pieces, with pieces of the same call's function arguments
// between them. A client (and llmgate's own cache conversion) reads
// custom.input and function.arguments as two strings, so the filter
// judges each whole, not one interleaving of the two.
func TestModerateStreamCustomInputApartFromArguments(t *testing.T) {
	role := modReasoningChunk(`"role":"assistant","content":null`, "")
	pieces := []string{"I will ki", "ll you, you worth", "less idi", "ot. Mail alice@exa", "mple.org"}
	events := [][]byte{role}
	for i, p := range pieces {
		events = append(events, modReasoningChunk(`"tool_calls":[{"index":0,`+
			map[bool]string{true: `"id":"c","type":"custom",`, false: ""}[i == 0]+
			`"custom":{"input":`+string(mustJSON(p))+`},"function":{"arguments":"~"}}]`, ""))
	}
	events = append(events, modReasoningChunk("", "tool_calls"))
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	var input strings.Builder
	errored := false
	for _, ev := range modParseSSE(t, rec.Body.Bytes()).events {
		var ch struct {
			Choices []struct {
				Delta struct {
					ToolCalls []wire.ToolCall `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
			Error any `json:"error"`
		}
		_ = json.Unmarshal(ev, &ch)
		errored = errored || ch.Error != nil
		for _, c := range ch.Choices {
			for _, tc := range c.Delta.ToolCalls {
				if tc.Custom != nil {
					input.WriteString(tc.Custom.Input)
				}
			}
		}
	}
	if input.String() == modHarmful || !errored {
		t.Errorf("flagged custom input reached the client whole: %q (error event %v)", input.String(), errored)
	}
}
