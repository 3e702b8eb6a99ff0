package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// valid reports whether Skip accepts b as one JSON text.
func valid(b []byte) bool {
	end, err := Skip(b, 0)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			panic("Skip returned " + err.Error() + ", not a *SyntaxError")
		}
		return false
	}
	return SkipWS(b, end) == len(b)
}

var skipCases = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, ` {"a" : [ 1 , 2 ] } `, `"plain"`, `"é ü 😀"`, `"\u00e9\n\"\\\/\b\f\r\t"`,
	`"\u00G0"`, `"\u00e"`, `"\x"`, "\"a\x01\"", "\"\xff\"", `"abc`, `"abc\`, `{"a":1,}`, `[1,]`, `[,1]`,
	`{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `[}`, `{]`, `{"a":[}`, `0`, `-0`, `-`, `01`, `1.`, `.5`,
	`1e`, `1e+`, `1E-7`, `-0.5e10`, `+1`, `tru`, `true`, `truex`, `false`, `fals`, `null`, `nul`, `nulll`,
	`[true,false,null,"x",{}]`, `{"a":{"b":{"c":[[[]]]}}}`, `1 2`, `{} {}`, "[\n1\t,\r2 ]",
	strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat(`{"a":[`, 70) + strings.Repeat("]}", 70), strings.Repeat(`{"a":[`, 70) + strings.Repeat("]}", 69) + "}]",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestSkipAgreesWithValid(t *testing.T) {
	for _, c := range skipCases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("%.80q: Skip says %v, json.Valid %v", c, got, want)
		}
	}
}

func TestSkipReturnsTheValuesEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		from int
		end  int
	}{
		{`{"a":1} tail`, 0, 7},
		{`[1,"x"],`, 0, 7},
		{`  "s" x`, 0, 5},
		{`{"a":-1.5e3,"b":true}`, 5, 11},
		{`{"a":-1.5e3,"b":true}`, 16, 20},
	} {
		end, err := Skip([]byte(tc.in), tc.from)
		if err != nil || end != tc.end {
			t.Errorf("Skip(%q, %d) = %d, %v; want %d", tc.in, tc.from, end, err, tc.end)
		}
	}
}

func FuzzSkip(f *testing.F) {
	for _, c := range skipCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("%q: Skip says %v, json.Valid %v", b, got, want)
		}
	})
}

func TestHex4(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want rune
		ok   bool
	}{
		{"00e9", 0xe9, true}, {"FFFD", 0xfffd, true}, {"d83Dx", 0xd83d, true}, {"abcf", 0xabcf, true},
		{"00e", 0, false}, {"", 0, false}, {"00g0", 0, false}, {"0 12", 0, false}, {"+123", 0, false},
	} {
		if r, ok := Hex4([]byte(tc.in)); r != tc.want || ok != tc.ok {
			t.Errorf("Hex4(%q) = %#x, %v; want %#x, %v", tc.in, r, ok, tc.want, tc.ok)
		}
	}
}

// TestUnescape holds Unescape to the string json.Unmarshal decodes: each
// escape, followed by text, is decoded on its own and then the rest.
func TestUnescape(t *testing.T) {
	for _, esc := range []string{`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0041`, `\u00e9`, `\uFFFD`,
		`\ud83d\ude00`, `\ud800`, `\udc00`, `\ud800\u0041`, `\ud800\udbff`, `\udc00\ud800`, `\ud800\u00e9`, `\ud83d\uDE00`} {
		body := esc + "x"
		var want string
		if err := json.Unmarshal([]byte(`"`+body+`"`), &want); err != nil {
			t.Fatalf("%s: %v", esc, err)
		}
		r, n, ok := Unescape([]byte(body))
		if !ok {
			t.Fatalf("%s: not an escape", esc)
		}
		var rest string
		if err := json.Unmarshal([]byte(`"`+body[n:]+`"`), &rest); err != nil {
			t.Fatalf("%s: rest %q: %v", esc, body[n:], err)
		}
		if got := string(r) + rest; got != want {
			t.Errorf("%s: %q + %q, json.Unmarshal %q", esc, string(r), rest, want)
		}
	}
	for _, bad := range []string{``, `\`, `\x`, `\u12`, `\u12g4`, `\U0041`, `\'`} {
		if _, _, ok := Unescape([]byte(bad)); ok {
			t.Errorf("%q: taken for an escape", bad)
		}
	}
}
