package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// modChunkView is what the stream filter reads of a chunk, for comparing
// two readings.
type modChunkView struct {
	Keep, Err                 bool
	ID, Object, Model, Create string
	Choices                   []modChoiceView
}

type modChoiceView struct {
	Index         int
	Content       string
	HasContent    bool
	Reasoning     string
	Parts         string
	Finish, Keep  bool
	HasLogprobs   bool
	ChoiceMembers bool
	Calls         string // the pieces of tool call arguments (and custom input), by call index
}

// modParseView parses data as the stream filter of a chat (or completions)
// stream does.
func modParseView(data []byte, chat bool) (modChunkView, error) {
	s := &modStream{chat: chat}
	err := s.parseChunk(data)
	v := modChunkView{Keep: s.chunk.keep, Err: s.chunk.err, ID: s.id, Object: s.object, Model: s.model, Create: s.created}
	for _, cc := range s.chunk.choices {
		var calls strings.Builder
		for _, p := range cc.calls {
			fmt.Fprintf(&calls, "%d:%q;", p.index, p.args)
		}
		v.Choices = append(v.Choices, modChoiceView{cc.index, cc.content, cc.end > 0, cc.reasoning, cc.parts, cc.finish, cc.keep, cc.lp != 0, cc.choiceComma, calls.String()})
	}
	return v, err
}

// modRefChoices reads the choices' index, content (text) and reasoning of
// a chunk with encoding/json. ok is false when the filter must refuse the
// chunk: not an object, an index that is not an integer, content or
// reasoning that is neither a string nor null, reasoning_content and
// reasoning that differ.
func modRefChoices(data []byte, chat bool) (out []modChoiceView, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top any
	if dec.Decode(&top) != nil {
		return nil, false
	}
	m, isObj := top.(map[string]any)
	if !isObj {
		return nil, false
	}
	choices, _ := m["choices"].([]any)
	for _, c := range choices {
		cm, isObj := c.(map[string]any)
		if !isObj {
			continue
		}
		var v modChoiceView
		if n, has := cm["index"]; has {
			num, isNum := n.(json.Number)
			i, err := strconv.Atoi(string(num))
			if !isNum || err != nil {
				return nil, false
			}
			v.Index = i
		}
		holder, key := cm, "text"
		if chat {
			holder, key = nil, "content"
			if d, isObj := cm["delta"].(map[string]any); isObj {
				holder = d
			}
		}
		if content, has := holder[key]; has {
			v.HasContent = true
			switch content := content.(type) {
			case string:
				v.Content = content
			case nil:
			case []any:
				if !chat {
					return nil, false
				}
				v.HasContent = false // Parts: see modRefParts
			default:
				return nil, false
			}
		}
		if chat {
			var texts []string
			for _, k := range []string{"reasoning_content", "reasoning"} {
				switch r := holder[k].(type) {
				case string:
					texts = append(texts, r)
				case nil:
				default:
					return nil, false
				}
			}
			if len(texts) == 2 && texts[0] != texts[1] {
				return nil, false
			}
			if len(texts) > 0 {
				v.Reasoning = texts[0]
			}
			switch r := holder["refusal"].(type) {
			case string:
				v.Parts = r // with the parts' text: see modRefParts
			case nil:
			default:
				return nil, false
			}
		}
		out = append(out, v)
	}
	return out, true
}

// modRefParts returns, for each object among the choices of the valid
// JSON chunk data, the text the filter judges in delta content sent as an
// array of parts: every string in it but the values of "type" members, in
// order, joined with nothing ("" for other content).
func modRefParts(data []byte) []string {
	var top map[string]json.RawMessage
	var choices []json.RawMessage
	if json.Unmarshal(data, &top) != nil || json.Unmarshal(top["choices"], &choices) != nil {
		return nil
	}
	var out []string
	for _, c := range choices {
		var choice, delta map[string]json.RawMessage
		if json.Unmarshal(c, &choice) != nil {
			continue // not an object
		}
		text := ""
		if json.Unmarshal(choice["delta"], &delta) == nil {
			if content := bytes.TrimSpace(delta["content"]); len(content) > 0 && content[0] == '[' {
				text = modRefPartsText(content)
			}
		}
		out = append(out, text)
	}
	return out
}

// modRefPartsText walks the JSON value v in order (see modRefParts).
func modRefPartsText(v []byte) string {
	dec := json.NewDecoder(bytes.NewReader(v))
	var texts []string
	var walk func()
	walk = func() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch tok := tok.(type) {
		case string:
			if tok != "" {
				texts = append(texts, tok)
			}
		case json.Delim:
			if tok == '{' {
				for dec.More() {
					k, _ := dec.Token()
					if k == "type" { // its value is passed over, whatever it is
						for depth := 0; ; {
							t, err := dec.Token()
							if d, ok := t.(json.Delim); ok && (d == '{' || d == '[') {
								depth++
							} else if ok {
								depth--
							}
							if err != nil || depth == 0 {
								break
							}
						}
						continue
					}
					walk()
				}
				_, _ = dec.Token()
			} else if tok == '[' {
				for dec.More() {
					walk()
				}
				_, _ = dec.Token()
			}
		}
	}
	walk()
	return strings.Join(texts, "")
}

// modDuplicateKeys reports whether some object in the valid JSON data has
// a key twice (the filters refuse some duplicates, encoding/json keeps the
// last), or a key that differs only in case from one of names (refused:
// encoding/json would read it as that name).
func modDuplicateKeys(data []byte, names ...string) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				ks, _ := k.(string)
				if seen[ks] || hasCaseTwin(ks, names...) {
					return true
				}
				seen[ks] = true
				if walk() {
					return true
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, _ = dec.Token()
		}
		return false
	}
	return walk()
}

// FuzzModerateStreamChunk checks the stream filter's reading of a chunk:
// any layout of valid JSON reads as its compact form does; a chunk
// encoding/json reads with integer indices and string or null content
// (and no key twice) is read, with the same choices and content; and
// anything else is refused, which cuts the stream.
func FuzzModerateStreamChunk(f *testing.F) {
	seeds := []string{
		string(modChunkJSON("assistant", "", "")),
		string(modChunkJSON("", modHarmful, "")),
		string(modChunkJSON("", "", "stop")),
		`{"choices":[{"index": 0,"delta":{"content":"I will kill you, you worthless idiot. Mail alice@example.org"}}]}`,
		`{"choices": [{"index": 0, "delta": {"content": "a\u00e9\ud83d\ude00\n"}, "finish_reason": null}], "usage": null}`,
		"{\n  \"id\" : \"x\",\r\n\t\"created\"\t:\t-1 ,\"choices\":[ { \"delta\" : { \"c\\u006fntent\" : \"hi\" } , \"index\" : 1 } ] }",
		`{"choices":[{"index":0,"text":"hi","logprobs":{"tokens":["hi"],"token_logprobs":[-0.1],"top_logprobs":null,"text_offset":[0]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"hi"},"logprobs":{"content":[{"token":"hi","logprob":-0.1,"bytes":[104,105],"top_logprobs":[]}]}}]}`,
		`{"error":null,"choices":[{"index":0,"delta":{"content":"x"}}]}`,
		`{"error":{"message":"boom"}}`,
		`{"choices":[{"index":0,"delta":{"content":"x","content":null}}]}`,
		`{"choices":[{"index":1e0,"delta":{"content":"x"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":["x"]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"I will kill"}]}]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":[{"text":"a","type":{"x":["b"]},"more":["c",{"d":"e"}]}]}}]}`,
		`{"choices":[{"index":0,"delta":{"refusal":"I can't","content":[{"type":"text","text":" help"}]}}]}`,
		`{"choices":[1,null,{"delta":{}}],"choices":[]}`,
		`{"choices":[{"index":0,"delta":{"content":"x"}}],"x":NaN}`,
		`{"choices":[{"index":0,"delta":{"reasoning_content":"I will kill","reasoning":"I will kill"}}]}`,
		`{"choices":[{"delta":{"reasoning":"x","reasoning_content":null,"Content":"y"}}]}`,
		`["x"]`, ``, `{`, `{"choices":[{"index":0,"delta":{"content":"\ud800"}}]}`, "{\"choices\":[{\"text\":\"\xff\"}]}",
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c","type":"custom","custom":{"name":"p","input":"I will \\u006bill"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"custom":{"input":"a"},"index":2,"function":{"arguments":"b"}},{"index":3,"custom":null}]}}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, chat bool) {
		got, err := modParseView(data, chat)
		if !json.Valid(data) {
			if err == nil {
				t.Fatalf("invalid JSON %q read as a chunk", data)
			}
			return
		}
		var compact bytes.Buffer
		if cerr := json.Compact(&compact, data); cerr != nil {
			t.Fatal(cerr)
		}
		want, cerr := modParseView(compact.Bytes(), chat)
		if (err == nil) != (cerr == nil) || (err == nil && !modViewsEqual(got, want)) {
			t.Fatalf("%q reads as\n%+v (%v); its compact form as\n%+v (%v)", data, got, err, want, cerr)
		}
		var se *syntaxError
		if errors.As(err, &se) { // only depth: the data is valid JSON
			if se.msg != "exceeded max depth" {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		ref, ok := modRefChoices(data, chat)
		dup := modDuplicateKeys(data, "choices", "index", "delta", "text", "logprobs", "finish_reason", "content",
			"reasoning_content", "reasoning", "refusal")
		switch {
		case !ok:
			if err == nil {
				t.Fatalf("%q read as %+v; want it refused", data, got)
			}
		case err != nil:
			if !dup {
				t.Fatalf("%q refused (%v); encoding/json reads %+v", data, err, ref)
			}
		case !dup:
			if chat {
				// The filter joins the parts' text and the refusal in the
				// order of their members, which the maps lost: either.
				for i, p := range modRefParts(data) {
					if i < len(ref) && ref[i].Parts+p != got.Choices[i].Parts {
						ref[i].Parts = p + ref[i].Parts
					} else if i < len(ref) {
						ref[i].Parts += p
					}
				}
			}
			if len(ref) != len(got.Choices) {
				t.Fatalf("%q: %d choices, encoding/json reads %d", data, len(got.Choices), len(ref))
			}
			for i, r := range ref {
				g := got.Choices[i]
				if g.Index != r.Index || g.Content != r.Content || g.HasContent != r.HasContent || g.Reasoning != r.Reasoning || g.Parts != r.Parts {
					t.Fatalf("%q: choice %d reads as %+v; encoding/json reads %+v", data, i, g, r)
				}
			}
		}
	})
}

func modViewsEqual(a, b modChunkView) bool {
	if a.Keep != b.Keep || a.Err != b.Err || a.ID != b.ID || a.Object != b.Object || a.Model != b.Model ||
		a.Create != b.Create || len(a.Choices) != len(b.Choices) {
		return false
	}
	for i := range a.Choices {
		if a.Choices[i] != b.Choices[i] {
			return false
		}
	}
	return true
}
