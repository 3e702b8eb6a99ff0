package middleware

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

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

// modClientCalls is what a client reads of a chat stream: each tool call's
// arguments by index, the finish reasons, and whether an error came.
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(tc.events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			args, fin, errored := modClientCalls(t, rec.Body.Bytes())
			if tc.want == nil {
				if errored || args[0] != clean || args[1] != clean || len(fin) != 1 || fin[0] != "tool_calls" {
					t.Errorf("clean stream: arguments %v, finish %q, error %v\n%s", args, fin, errored, rec.Body)
				}
				if got := modParseSSE(t, rec.Body.Bytes()).events; !slices.EqualFunc(got, tc.events, func(a json.RawMessage, b []byte) bool { return bytes.Equal(a, b) }) {
					t.Errorf("clean stream changed:\n%s", rec.Body)
				}
				return
			}
			for i := range tc.want {
				if args[i] != "" {
					t.Errorf("call %d reached the client: %q\n%s", i, args[i], rec.Body)
				}
			}
			if !errored || len(fin) != 1 || fin[0] != string(wire.FinishContentFilter) {
				t.Errorf("finish %q, error %v: want a content_filter cut\n%s", fin, errored, rec.Body)
			}
		})
	}
	// What the filter cannot judge cuts the stream, as for content.
	for _, delta := range []string{
		`"Tool_calls":[{"index":0,"function":{"arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{}","Arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"function":{"arguments":"{}","arguments":"{}"}}]`,
		`"tool_calls":[{"index":0,"index":1,"function":{"arguments":"{}"}}]`,
		`"tool_calls":[{"index":"0","function":{"arguments":"{}"}}]`,
		`"tool_calls":[],"function_call":{"arguments":"{}"}`,
	} {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modReasoningChunk(delta, ""), modReasoningChunk("", "stop")))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if _, fin, errored := modClientCalls(t, rec.Body.Bytes()); !errored || strings.Contains(strings.Join(fin, ","), "stop") {
			t.Errorf("%s: finish %q, error %v: want the stream cut\n%s", delta, fin, errored, rec.Body)
		}
	}
}
