package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// canonicalForm returns the canonical form of body (no key prefix) with
// the default ignored fields, "model" left out too when skipModel.
func canonicalForm(body []byte, skipModel bool) ([]byte, error) {
	c := new(canon)
	c.reset(body, &defaultIgnore, skipModel)
	if err := c.document(); err != nil {
		return nil, err
	}
	return c.buf, nil
}

// referenceForm is the canonical form computed the slow, obvious way:
// decode with encoding/json (numbers kept as text), drop the ignored
// top-level members, and encode as documented on canon. ok is false for a
// body it cannot judge (not valid JSON, or a number too large for big.Rat
// to handle quickly).
func referenceForm(t *testing.T, body []byte, skipModel bool) (form []byte, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	if m, isObj := v.(map[string]any); isObj {
		for _, f := range DefaultIgnoredFields {
			delete(m, f)
		}
		if skipModel {
			delete(m, "model")
		}
	}
	var enc func(b []byte, v any) ([]byte, bool)
	enc = func(b []byte, v any) ([]byte, bool) {
		switch v := v.(type) {
		case nil:
			return append(b, "null"...), true
		case bool:
			if v {
				return append(b, "true"...), true
			}
			return append(b, "false"...), true
		case string:
			return refString(b, v), true
		case json.Number:
			return refNumber(b, string(v))
		case []any:
			b = append(b, '[')
			for i, e := range v {
				if i > 0 {
					b = append(b, ',')
				}
				var ok bool
				if b, ok = enc(b, e); !ok {
					return nil, false
				}
			}
			return append(b, ']'), true
		case map[string]any:
			names := make([]string, 0, len(v))
			for k := range v {
				names = append(names, k)
			}
			// Members are ordered by their names' canonical bodies.
			slices.SortFunc(names, func(a, b string) int {
				qa, qb := refString(nil, a), refString(nil, b)
				return bytes.Compare(qa[1:len(qa)-1], qb[1:len(qb)-1])
			})
			b = append(b, '{')
			for i, k := range names {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(refString(b, k), ':')
				var ok bool
				if b, ok = enc(b, v[k]); !ok {
					return nil, false
				}
			}
			return append(b, '}'), true
		}
		t.Fatalf("unexpected %T", v)
		return nil, false
	}
	return enc(nil, v)
}

// refString quotes s, escaping only a quote, a backslash and control bytes
// (\b \f \n \r \t short, the others as \u00XX).
func refString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range []byte(s) {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', r)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
		default:
			b = append(b, r)
		}
	}
	return append(b, '"')
}

// refNumber writes the number n by its exact value, found with big.Rat.
func refNumber(b []byte, n string) ([]byte, bool) {
	if i := strings.IndexAny(n, "eE"); i >= 0 && len(strings.TrimLeft(strings.TrimLeft(n[i+1:], "+-"), "0")) > 4 {
		return nil, false // big.Rat would take ages; TestKeyNumbers covers these
	}
	r, ok := new(big.Rat).SetString(n)
	if !ok {
		return nil, false
	}
	if r.Sign() == 0 {
		return append(b, '0'), true
	}
	if r.Sign() < 0 {
		b = append(b, '-')
		r.Neg(r)
	}
	// r = digits × 10^exp with digits an integer not divisible by 10.
	exp := 0
	ten := big.NewRat(10, 1)
	for !r.IsInt() {
		r.Mul(r, ten)
		exp--
	}
	digits := r.Num().String()
	for exp >= 0 && strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp++
	}
	if exp >= 0 && len(digits)+exp <= maxPlainDigits {
		return append(append(b, digits...), strings.Repeat("0", exp)...), true
	}
	b = append(b, digits...)
	b = append(b, 'e')
	return append(b, big.NewInt(int64(exp)).String()...), true
}

// canonCases are bodies whose canonical form is checked against the
// reference: each spelling a stretch of the canonicaliser treats apart.
var canonCases = []string{
	`{}`, `[]`, `{ }`, `[ ]`, ` {"a" : [ 1 , 2 ] } `, `"plain"`, `"é ü 😀"`, `"\u00e9\n\"\\\/\u0001"`,
	`{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"b":{"y":1,"x":[3,2,{"k":null}]},"a":true}`,
	`{"a\"":1,"a":2,"a\\":3,"a\u0000":4,"a\u001f":5}`, `{"\u00e9":1,"é":2,"e":3}`,
	`{"stream":true,"model":"m","user":"u"}`, `{"model":"m"}`, `{"stream":true}`,
	`{"stream":true,"a":1}`, `{"a":1,"stream":true}`, `{"a":1,"stream":true,"user":"u","b":2}`,
	`{"user":"u","stream":true,"b":2,"a":1}`, `{ "user" : "u" , "b" : 2 , "stream" : true , "a" : 1 }`,
	`{"str\u0065am":true,"a":1}`, `{"a":{"stream":true}}`, `[{"stream":true}]`,
	`0`, `-0`, `-0.0e-0`, `1`, `-1`, `10`, `1e2`, `1E+2`, `100e-2`, `0.5`, `-1.50`, `12.34e1`, `1e-7`,
	`123456789012345678901234567890`, `1234567890123456789012345678901`, `1000000000000000000000000000000`,
	`1e29`, `1e30`, `1e31`, `0.000001`, `[1.50,1.5,15e-1,0.15e1]`, `[true,false,null,"x",{}]`,
	"\"\xff\xfe\"", "{\"\xff\":1,\"\\ufffd\":2}", `"\ud83d\ude00\ud800 \u00e9\t"`, `{"a":"b\u0000"}`,
	`{"aaaaaaaa1":1,"aaaaaaaa0":2,"aaaaaaa":3,"aaaaaaaa":4}`, `{"":1,"a":2,"":3}`,
	string(chatRequest1K), manyMembers,
	`{"a\nb":1,"a\u000ab":2}`, `{"a\u000Ab":1,"a\nb":2}`, `{"x\b":1,"x\u0008":2,"x\t":3,"x\u001f":4}`,
	`["line one\nline \"two\"\t\\ end","\/\r\f","\u000d\u000C\u0009 tab"]`,
	// two-member objects inside others, which parse closes itself when it can
	`[{"a":1,"a":2}]`, `[{"b":1,"a":2}]`, `[{"a":1,"b":2}]`, `[{"b":1, "a":2}]`, `[{"b":"\u0041","a":2}]`,
	`[{"aaaaaaaab":1,"aaaaaaaaa":2}]`, `{"x":{"b":1,"a":2},"y":[{"d":{"c":1,"b":2},"a":0}]}`,
}

// TestCanonicalFormAsWritten: strings whose escapes are the short ones
// that encoding/json, Python and JavaScript write (\" \\ \b \f \n \r \t)
// are canonical as written; other spellings of the same characters are
// rewritten to them.
func TestCanonicalFormAsWritten(t *testing.T) {
	for _, body := range []string{
		`"line one\nline \"two\"\t\\ end"`,
		`{"a":"x\by\fz\r\n","b\n":"\u001f stays"}`,
		`["é\n","\"é\""]`,
		`"\u001b[31mred\u001b[0m"`,
		`{"k\u0001":"\u0000\u001f\u0010"}`,
	} {
		got, err := canonicalForm([]byte(body), false)
		if err != nil || string(got) != body {
			t.Errorf("%s: canonical form %s (%v), want it as written", body, got, err)
		}
		// As written means passed over: no rewrite and no decode.
		c := new(canon)
		c.reset([]byte(body), &defaultIgnore, false)
		if err := c.parse(); err != nil || len(c.events) != 0 || len(c.aux) != 0 {
			t.Errorf("%s: %d events, aux %q (%v), want none", body, len(c.events), c.aux, err)
		}
	}
	for body, want := range map[string]string{
		`"\u000a\u000D\u0009\u0008\u000c"`: `"\n\r\t\b\f"`,
		`"\/ \u0022 \u005c"`:               `"/ \" \\"`,
		`"\u00e9\n"`:                       `"é\n"`,
		`"\u001B\u001A\u0020\u002F"`:       `"\u001b\u001a /"`,
		`"a\u000Ab\u000ac"`:                `"a\nb\nc"`,
		"\"\xff\\n\"":                      "\"\ufffd\\n\"",
	} {
		got, err := canonicalForm([]byte(body), false)
		if err != nil || string(got) != want {
			t.Errorf("%s: canonical form %s (%v), want %s", body, got, err, want)
		}
	}
}

// manyMembers is an object too large for the insertion sort: 20 members
// in reverse order, one of them twice.
var manyMembers = func() string {
	b := []byte("{")
	for i := 19; i >= 0; i-- {
		b = fmt.Appendf(b, `"m%02d":%d,`, i, i)
	}
	return string(b) + `"m07":"last"}`
}()

func TestCanonicalFormMatchesReference(t *testing.T) {
	for _, body := range canonCases {
		for _, skipModel := range []bool{false, true} {
			want, ok := referenceForm(t, []byte(body), skipModel)
			if !ok {
				t.Fatalf("reference cannot judge %q", body)
			}
			got, err := canonicalForm([]byte(body), skipModel)
			if err != nil {
				t.Fatalf("%q: %v", body, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%q (skipModel %v):\n got %s\nwant %s", body, skipModel, got, want)
			}
		}
	}
}

// FuzzCanonicalForm checks the canonical form against the reference.
func FuzzCanonicalForm(f *testing.F) {
	for _, s := range canonCases {
		f.Add([]byte(s))
	}
	// Long strings, for the vector scan: plain, then an escape, a control
	// byte or a multi-byte rune after the first sixteen bytes.
	f.Add(chatRequest1K)
	f.Add([]byte(`{"b":"0123456789abcdef0123456789abcdef\u00e9 and more","a":"0123456789abcdef0123\n456789"}`))
	f.Add([]byte("{\"s\":\"0123456789abcdef0123456789abcdef caf\xc3\xa9 0123456789abcdef\t\"}"))
	// \u escapes of control bytes, canonical as written or not.
	f.Add([]byte(`{"\u001b[0m":"\u001b[31m\u001B\u000a\u0000\u001f","b":"\u0020\u00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, ok := referenceForm(t, body, true)
		if !ok {
			return
		}
		got, err := canonicalForm(body, true)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", body, got, want)
		}
	})
}
