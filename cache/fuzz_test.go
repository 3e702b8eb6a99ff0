package cache

import (
	"bytes"
	"encoding/json"
	"errors"
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
