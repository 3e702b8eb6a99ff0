package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// modBodyView is what the body filter reads of a response: per choice,
// the texts it judges and the bytes of the values they come from.
func modBodyView(body []byte, chat bool) ([][]string, error) {
	choices, err := bodyChoices(body, chat)
	var v [][]string
	for _, ch := range choices {
		texts := slices.Clone(ch.texts)
		for _, a := range ch.args {
			texts = append(texts, modArgsText(a))
		}
		for _, sp := range ch.values {
			if sp.start < 0 || sp.end > len(body) || sp.start >= sp.end {
				return nil, errors.New("value span out of the body")
			}
		}
		v = append(v, texts)
	}
	return v, err
}

// modRefBodyTexts reads with encoding/json the texts the body filter must
// judge in a chat completion whose messages are plain: string content,
// refusal and reasoning members, and tool calls whose arguments are
// strings. ok is false when some message is not plain.
func modRefBodyTexts(body []byte) (out [][]string, ok bool) {
	var v struct {
		Choices []struct {
			Message map[string]any `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil, false
	}
	for _, c := range v.Choices {
		if c.Message == nil {
			continue
		}
		var texts []string
		for _, k := range []string{"content", "reasoning_content", "reasoning", "refusal"} {
			switch t := c.Message[k].(type) {
			case string:
				texts = append(texts, t)
			case nil:
			default:
				return nil, false
			}
		}
		// str reads obj[key] of a call's function or custom member: a
		// string, null or absent, in an object, null or absent.
		str := func(obj any, key string) (string, bool) {
			f, isObj := obj.(map[string]any)
			if !isObj && obj != nil {
				return "", false
			}
			switch a := f[key].(type) {
			case string:
				return a, true
			case nil:
				return "", true
			}
			return "", false
		}
		// args adds a call's arguments and custom input, joined when both
		// are there, as the tool reads them; a call without any adds none.
		args := func(args, input string) {
			switch {
			case args == "":
				args = input
			case input != "":
				args += "\n" + input
			}
			if args != "" {
				texts = append(texts, modArgsText(args))
			}
		}
		calls := false
		switch tc := c.Message["tool_calls"].(type) {
		case []any:
			calls = true
			for _, call := range tc {
				m, isObj := call.(map[string]any)
				if !isObj {
					continue
				}
				a, ok1 := str(m["function"], "arguments")
				in, ok2 := str(m["custom"], "input")
				if !ok1 || !ok2 {
					return nil, false
				}
				args(a, in)
			}
		case nil:
		default:
			return nil, false
		}
		if fc, isObj := c.Message["function_call"].(map[string]any); isObj {
			calls = true
			a, ok := str(fc, "arguments")
			if !ok {
				return nil, false
			}
			args(a, "")
		} else if c.Message["function_call"] != nil {
			return nil, false
		}
		if len(texts) > 0 || calls {
			out = append(out, texts)
		}
	}
	return out, true
}

// FuzzModerateOutputBody checks the body filter's reading of a response:
// it never panics nor points outside the body; any layout of valid JSON
// reads as its compact form does; and a chat completion with plain
// messages, no member twice and no case twin, reads as encoding/json
// reads it (texts in the order content, reasoning_content, reasoning,
// whatever the members' order).
func FuzzModerateOutputBody(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}]}`,
		`{"choices":[{"message":{"reasoning":"think","content":"Paris.","reasoning_content":"think"}}]}`,
		`{"choices":[{"message":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"a"}]},{"type":"text","text":"b"}]}}]}`,
		`{"choices":[{"message":{"content":[1,null,true,{"type":"text"}]}}]}`,
		`{"choices":[{"index":0,"text":"hi","logprobs":null,"finish_reason":"length"}]}`,
		`{"choices":[{"message":{"content":"a","Content":"b"}}]}`,
		`{"choices":[{"message":{"reasoning":{"x":1}}}]}`,
		`{"choices" : [ { "message" : { "content" : "a\u00e9" } } ] }`,
		`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":\"\\u0062\"}"}}]}}]}`,
		`{"choices":[{"message":{"function_call":{"name":"f","arguments":{"x":[1,"y"]}},"tool_calls":[1,{"function":null}]}}]}`,
		`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"custom","custom":{"name":"p","input":"I will \\u006bill"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"type":"function","function":{"arguments":"a"},"custom":{"input":"b"}},{"custom":null},{"custom":{"input":{"x":1}}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":""}},{"type":"custom","custom":{"name":"p","input":""}}]}}]}`,
		`{"choices":[]}`, `{}`, `[]`, `{"choices":[]} {"choices":[{"message":{"content":"x"}}]}`, `{"choices":[{"message":{"content":[[[[[]]]]]}}]}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		got, err := modBodyView(body, chat)
		if err != nil && err.Error() == "value span out of the body" {
			t.Fatalf("%q: %v", body, err)
		}
		if !json.Valid(body) {
			if err == nil {
				t.Fatalf("invalid JSON %q read as %q", body, got)
			}
			return
		}
		var compact bytes.Buffer
		if cerr := json.Compact(&compact, body); cerr != nil {
			t.Fatal(cerr)
		}
		want, cerr := modBodyView(compact.Bytes(), chat)
		if (err == nil) != (cerr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q reads as %q (%v); its compact form as %q (%v)", body, got, err, want, cerr)
		}
		if !chat || err != nil || modDuplicateKeys(body, "choices", "message", "content", "reasoning_content", "reasoning", "refusal",
			"text", "finish_reason", "logprobs", "tool_calls", "function_call", "function", "arguments", "custom", "input") {
			return
		}
		ref, ok := modRefBodyTexts(body)
		if !ok {
			return
		}
		// The filter reads the texts in the order they come; compare as sets
		// per choice in the reference order.
		if len(ref) != len(got) {
			t.Fatalf("%q: %d choices with text, encoding/json reads %d: %q vs %q", body, len(got), len(ref), got, ref)
		}
		for i := range ref {
			if !sameTexts(got[i], ref[i]) {
				t.Fatalf("%q: choice %d texts %q, encoding/json reads %q", body, i, got[i], ref[i])
			}
		}
	})
}

func sameTexts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && x == y {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}
