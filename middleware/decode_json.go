package middleware

// A small JSON scanner specialised for request decoding.
//
// Why hand-rolled instead of encoding/json: Decode must answer every type
// error with the exact path of the offending field ("messages[2].content[0]
// .type"), and encoding/json's UnmarshalTypeError.Field carries no array
// indices; it is also several times slower than the 10 µs budget for a 1 KiB
// chat request allows (see BenchmarkDecodeChat1KiB against its
// json.Unmarshal baseline). The scanner below decodes straight into the wire
// types, takes unescaped strings as substrings of one string copy of the
// body (no allocation per string) and checks the JSON grammar of every byte,
// including the parts of the body no wire type knows.

import (
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// scanner reads JSON from b; s holds the same bytes as a string so that
// strings without escapes are substrings of s and cost no allocation.
type scanner struct {
	b     []byte
	s     string
	i     int
	depth int
}

func newScanner(b []byte) scanner { return scanner{b: b, s: string(b)} }

// syntaxError is malformed JSON at byte offset off.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return "middleware: invalid JSON at byte offset " + strconv.Itoa(e.off) + ": " + e.msg
}

func (d *scanner) errAt(off int, msg string) error { return &syntaxError{off: off, msg: msg} }

// unexpected reports the byte at d.i (or the end of input) while looking
// for what.
func (d *scanner) unexpected(what string) error {
	if d.i >= len(d.b) {
		return d.errAt(d.i, "unexpected end of JSON input")
	}
	return d.errAt(d.i, "invalid character "+quoteChar(d.b[d.i])+" "+what)
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c < 0x20 || c >= 0x7f:
		return strconv.QuoteRune(rune(c))
	}
	return "'" + string(rune(c)) + "'"
}

func (d *scanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end (so a
// NUL byte in the input reads as the end: callers that must tell them
// apart compare d.i with len(d.b)).
func (d *scanner) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// kindOf names the JSON type starting with c, as OpenAI's messages do.
func kindOf(c byte, lit string) string {
	switch c {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] == '.' || lit[i] == 'e' || lit[i] == 'E' {
			return "a decimal"
		}
	}
	return "an integer"
}

// obj reads the next key of an object. Call it with n = 0, 1, 2, … for
// successive keys: at n = 0 it expects '{'. It returns more = false after
// the closing '}'.
func (d *scanner) obj(n int) (key string, more bool, err error) {
	if n == 0 {
		if d.peek() != '{' {
			return "", false, d.unexpected("looking for beginning of object")
		}
		d.i++
		if d.depth++; d.depth > jsonscan.MaxDepth {
			return "", false, d.errAt(d.i, "exceeded max depth")
		}
		if d.peek() == '}' {
			d.i++
			d.depth--
			return "", false, nil
		}
	} else {
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return "", false, nil
		default:
			return "", false, d.unexpected("after object key:value pair")
		}
	}
	if d.peek() != '"' {
		return "", false, d.unexpected("looking for beginning of object key string")
	}
	if key, err = d.str(); err != nil {
		return "", false, err
	}
	if d.peek() != ':' {
		return "", false, d.unexpected("after object key")
	}
	d.i++
	return key, true, nil
}

// arr is obj for arrays: more = false after the closing ']'.
func (d *scanner) arr(n int) (more bool, err error) {
	if n == 0 {
		if d.peek() != '[' {
			return false, d.unexpected("looking for beginning of array")
		}
		d.i++
		if d.depth++; d.depth > jsonscan.MaxDepth {
			return false, d.errAt(d.i, "exceeded max depth")
		}
		if d.peek() == ']' {
			d.i++
			d.depth--
			return false, nil
		}
		return true, nil
	}
	switch d.peek() {
	case ',':
		d.i++
		return true, nil
	case ']':
		d.i++
		d.depth--
		return false, nil
	}
	return false, d.unexpected("after array element")
}

// str reads a string at d.i (which must be '"').
func (d *scanner) str() (string, error) {
	start := d.i + 1
	ascii := true
	// Plain ASCII is passed eight bytes at a time; the loop below looks at
	// the rest.
	for j := jsonscan.PlainRun(d.b, start); j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			s := d.s[start:j]
			if !ascii && !utf8.ValidString(s) {
				return string([]rune(s)), nil // invalid bytes become U+FFFD
			}
			return s, nil
		case c == '\\':
			return d.strSlow(start)
		case c < 0x20:
			d.i = j
			return "", d.unexpected("in string literal")
		case c >= 0x80:
			ascii = false
		}
	}
	d.i = len(d.b)
	return "", d.unexpected("in string literal")
}

// strSlow decodes a string with escapes, starting after its opening quote.
// The result is built in a buffer sized to the escaped text (unescaping
// only shrinks it, except for invalid UTF-8) and returned without a second
// copy: the buffer is never written again.
func (d *scanner) strSlow(start int) (string, error) {
	end := start
	for end < len(d.b) && d.b[end] != '"' {
		if d.b[end] == '\\' {
			end++
		}
		end++
	}
	out := make([]byte, 0, min(end, len(d.b))-start)
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return unsafe.String(unsafe.SliceData(out), len(out)), nil
		case c < 0x20:
			d.i = j
			return "", d.unexpected("in string literal")
		case c == '\\':
			if j+1 >= len(d.b) {
				d.i = len(d.b)
				return "", d.unexpected("in string escape code")
			}
			r, n, ok := jsonscan.Unescape(d.b[j:])
			if !ok {
				if d.b[j+1] == 'u' {
					d.i = j + 2
					return "", d.unexpected("in \\u hexadecimal character escape")
				}
				d.i = j + 1
				return "", d.unexpected("in string escape code")
			}
			out = utf8.AppendRune(out, r)
			j += n
		case c < utf8.RuneSelf:
			// Copy the run of plain ASCII up to the next quote, escape,
			// control or non-ASCII byte at once.
			k := j + 1
			for k < len(d.b) {
				if c := d.b[k]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
					break
				}
				k++
			}
			out = append(out, d.b[j:k]...)
			j = k
		default:
			r, size := utf8.DecodeRune(d.b[j:])
			out = utf8.AppendRune(out, r)
			j += size
		}
	}
	d.i = len(d.b)
	return "", d.unexpected("in string literal")
}

// num reads a number literal after optional whitespace and returns its
// text.
func (d *scanner) num() (string, error) {
	d.ws()
	start, j := d.i, d.i
	b := d.b
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		for j++; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
	default:
		d.i = j
		return "", d.unexpected("in numeric literal")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			d.i = j
			return "", d.unexpected("after decimal point in numeric literal")
		}
		for j++; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			d.i = j
			return "", d.unexpected("in exponent of numeric literal")
		}
		for j++; j < len(b) && '0' <= b[j] && b[j] <= '9'; j++ {
		}
	}
	d.i = j
	return d.s[start:j], nil
}

// word reads the literal w ("true", "false" or "null") at d.i.
func (d *scanner) word(w string) error {
	for k := 0; k < len(w); k++ {
		if d.i >= len(d.b) || d.b[d.i] != w[k] {
			return d.unexpected("in literal " + w + " (expecting '" + w[k:k+1] + "')")
		}
		d.i++
	}
	return nil
}

// skip reads and discards one value of any type, checking its grammar.
func (d *scanner) skip() error {
	switch d.peek() {
	case '"':
		// Only the grammar matters: scan without building the string.
		for j := d.i + 1; j < len(d.b); j++ {
			switch c := d.b[j]; {
			case c == '"':
				d.i = j + 1
				return nil
			case c == '\\':
				_, err := d.strSlow(d.i + 1)
				return err
			case c < 0x20:
				d.i = j
				return d.unexpected("in string literal")
			}
		}
		d.i = len(d.b)
		return d.unexpected("in string literal")
	case '{':
		for n := 0; ; n++ {
			_, more, err := d.obj(n)
			if err != nil || !more {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
		}
	case '[':
		for n := 0; ; n++ {
			more, err := d.arr(n)
			if err != nil || !more {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
		}
	case 't':
		return d.word("true")
	case 'f':
		return d.word("false")
	case 'n':
		return d.word("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, err := d.num()
		return err
	}
	return d.unexpected("looking for beginning of value")
}

// raw reads one value and returns its bytes (a copy: Raw may be patched
// later, the parsed request must not change with it).
func (d *scanner) raw() ([]byte, error) {
	d.ws()
	start := d.i
	if err := d.skip(); err != nil {
		return nil, err
	}
	return append([]byte(nil), d.b[start:d.i]...), nil
}

// end checks that only whitespace follows the top-level value.
func (d *scanner) end() error {
	if d.ws(); d.i < len(d.b) { // not peek: a NUL byte is not the end
		return d.unexpected("after top-level value")
	}
	return nil
}

// validJSON checks the grammar of the whole body; it returns the first
// syntax error or nil.
func validJSON(b []byte) error {
	d := newScanner(b)
	if err := d.skip(); err != nil {
		return err
	}
	return d.end()
}
