package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzCanonicalKey checks that the canonicaliser never panics, accepts
// exactly what encoding/json accepts, and gives a body and its re-encoding
// by encoding/json the same key. Numbers are decoded with UseNumber: as
// float64 they would be rounded, which legitimately changes the request.
func FuzzCanonicalKey(f *testing.F) {
	for _, s := range []string{
		string(chatRequest1K), chatBody, `{}`, `[]`, `""`, `0`, `-0.0e-0`, `1E+400`, `{"a":1,"a":2}`,
		`{"b":{"y":1,"x":[3,2,{"k":null}]},"a":true}`, `"\ud83d\ude00\ud800 \u00e9\t"`, "\"\xff\xfe\"",
		`{"stream":true,"model":"m","user":"u"}`, `[1.50,1.5,15e-1,0.15e1]`, `123456789012345678901234567890`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		k1, err := ComputeKey(KeyInput{Endpoint: chatPath, Model: "m", Body: body})
		valid := json.Valid(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("error %v does not wrap ErrInvalidJSON", err)
			}
			if valid {
				t.Fatalf("json.Valid accepts %q, ComputeKey: %v", body, err)
			}
			return
		}
		if !valid {
			t.Fatalf("ComputeKey accepts %q, json.Valid does not", body)
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		re, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		k2, err := ComputeKey(KeyInput{Endpoint: chatPath, Model: "m", Body: re})
		if err != nil {
			t.Fatalf("re-encoded %q: %v", re, err)
		}
		if k1 != k2 {
			t.Fatalf("%q and its re-encoding %q differ", body, re)
		}
	})
}

// FuzzConversion records a stream of chat chunks, or of text completion
// chunks when text is set (the input, one chunk per line) and, when the
// recorder stores it, wants the merged body to be one JSON object, the
// body served streamed to be JSON chunks and, with a usage chunk, those
// chunks to merge into the same body again: what the conversions splice
// in (unknown members, the upstream's usage) must stay valid and must not
// move.
func FuzzConversion(f *testing.F) {
	for _, s := range [][]string{vllmStream, extrasStream, chatStream} {
		f.Add([]byte(strings.Join(s, "\n")), false, true)
	}
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"a"},"x":{"y":"z"},"stop_reason":null}],"top":[1]}`+"\n"+
		`{"choices":[{"delta":{},"finish_reason":"stop","x":{"n":1},"index":0}],"top":"s","Usage":{"total_tokens":1}}`), false, false)
	f.Add([]byte(`{"x_groq":{"usage":{}},"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`+"\n"+
		`{"choices":[],"usage":{"prompt_tokens":1,"cost":2}}`), false, true)
	f.Add([]byte(`{"object":"text_completion","p":[5],"choices":[{"index":0,"text":"a","stop_reason":null}]}`+"\n"+
		`{"choices":[{"index":0,"text":"b","finish_reason":"stop","stop_reason":2}],"usage":{"total_tokens":3}}`), true, true)
	f.Fuzz(func(t *testing.T, data []byte, text, includeUsage bool) {
		if len(data) > 4096 {
			return
		}
		kind := KindChat
		if text {
			kind = KindCompletion
		}
		r := Recorder{Kind: kind}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			r.Add(line)
		}
		r.Add([]byte("[DONE]"))
		e, err := r.Finish(200, nil, t0)
		if err != nil {
			return
		}
		body, err := e.JSON()
		if err != nil {
			return // a stream the recorder keeps but cannot merge is served as it came
		}
		var c map[string]json.RawMessage
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("merged body %s: %v", body, err)
		}
		be, err := NewBodyEntry(kind, 200, body, t0)
		if err != nil {
			t.Fatalf("merged body %s refused: %v", body, err)
		}
		events, err := be.StreamEvents(includeUsage)
		if err != nil {
			t.Fatalf("merged body %s as a stream: %v", body, err)
		}
		back := Recorder{Kind: kind}
		for _, ev := range events {
			if !json.Valid(ev) {
				t.Fatalf("event %s of body %s", ev, body)
			}
			back.Add(ev)
		}
		back.Add([]byte("[DONE]"))
		e2, err := back.Finish(200, nil, t0)
		if err != nil {
			t.Fatalf("events of body %s refused: %v", body, err)
		}
		again, err := e2.JSON()
		if err != nil {
			t.Fatalf("events of body %s: %v", body, err)
		}
		if includeUsage && !bytes.Equal(again, body) {
			t.Fatalf("body → stream → body:\n%s\nwant\n%s", again, body)
		}
	})
}
