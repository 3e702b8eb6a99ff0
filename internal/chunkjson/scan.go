package chunkjson

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// This file holds the Decoder's lexical layer. Every reader either
// consumes a value json.Unmarshal would decode the same way, or calls
// fail, which moves the Decoder to the end of its input so that every
// later read fails too and Decode falls back to json.Unmarshal.

// fail gives up the fast path.
func (d *Decoder) fail() {
	d.bad = true
	d.i = len(d.b)
}

// ws passes over JSON white space.
func (d *Decoder) ws() {
	for d.i < len(d.b) && d.b[d.i] <= ' ' { // one test for the usual non-space
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *Decoder) peek() byte {
	d.ws()
	if d.i == len(d.b) {
		return 0
	}
	return d.b[d.i]
}

// null consumes a null, if one is next.
func (d *Decoder) null() bool {
	if d.peek() == 'n' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// enter consumes the opening bracket c of an object or an array.
func (d *Decoder) enter(c byte) bool {
	if d.peek() != c {
		d.fail()
		return false
	}
	d.i++
	return true
}

// key returns the key of the member at hand.
func (d *Decoder) key() []byte { return d.b[d.ks:d.ke] }

// member moves to the value of the next member of an object entered
// with enter, n members having been read, and reports whether there is
// one; d.key() is then its key. It returns false at the closing brace and
// on failure. Only keys of printable ASCII without escapes are read.
func (d *Decoder) member(n int) bool {
	switch d.peek() {
	case '}':
		d.i++
		return false
	case ',':
		if n == 0 {
			d.fail()
			return false
		}
		d.i++
		if d.peek() != '"' {
			d.fail()
			return false
		}
	case '"':
		if n > 0 {
			d.fail()
			return false
		}
	default:
		d.fail()
		return false
	}
	start := d.i + 1
	end := jsonscan.PlainRun(d.b, start)
	for end < len(d.b) && d.b[end] != '"' && d.b[end] >= 0x20 && d.b[end] < 0x80 && d.b[end] != '\\' {
		end++
	}
	if end >= len(d.b) || d.b[end] != '"' {
		d.fail() // an escape, a control or non-ASCII byte: json.Unmarshal decides
		return false
	}
	d.ks, d.ke = start, end
	d.i = end + 1
	if d.peek() != ':' {
		d.fail()
		return false
	}
	d.i++
	return true
}

// elem moves to the next element of an array entered with enter, n
// elements having been read, and reports whether there is one.
func (d *Decoder) elem(n int) bool {
	switch c := d.peek(); {
	case c == ']':
		d.i++
		return false
	case n == 0:
		return true
	case c == ',':
		d.i++
		return true
	}
	d.fail()
	return false
}

// once sets bit in *seen, failing when it was set: json.Unmarshal merges a
// key seen twice into the value of the first, which the fast path leaves
// to it.
func (d *Decoder) once(seen *uint, bit uint) {
	if *seen&bit != 0 {
		d.fail()
	}
	*seen |= bit
}

// unknown passes over the value of d.key(), a key that is no field of the
// object, checking its syntax as json.Unmarshal does; depth is the number
// of containers open around the value. json.Unmarshal matches keys
// without regard to case, so a key with an upper-case letter (the reader
// of keys lets no other byte through that folds) might name a field after
// all and is left to it.
func (d *Decoder) unknown(depth int) {
	for _, c := range d.key() {
		if 'A' <= c && c <= 'Z' {
			d.fail()
			return
		}
	}
	j, err := jsonscan.SkipIn(d.b, d.i, depth)
	if err != nil {
		d.fail()
		return
	}
	d.i = j
}

// rawString reads a string. Without escapes it returns the string's
// bytes inside d.b (at d.b[at:]); with escapes it returns the decoded
// bytes in a new buffer and at = -1.
func (d *Decoder) rawString() (s []byte, at int, ok bool) {
	if d.peek() != '"' {
		d.fail()
		return nil, 0, false
	}
	start := d.i + 1
	ascii := true
	for j := jsonscan.PlainRun(d.b, start); j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				d.fail() // json.Unmarshal replaces the invalid bytes
				return nil, 0, false
			}
			d.i = j + 1
			return s, start, true
		case c == '\\':
			s, ok := d.escaped(start)
			return s, -1, ok
		case c < 0x20:
			d.fail()
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	d.fail()
	return nil, 0, false
}

// escaped decodes a string with escapes whose body starts at d.b[start].
func (d *Decoder) escaped(start int) ([]byte, bool) {
	out := make([]byte, 0, 64)
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(d.b[start:j]) {
				break
			}
			d.i = j + 1
			return out, true
		case c < 0x20:
		case c != '\\':
			out = append(out, c)
			j++
			continue
		default:
			// A lone surrogate, which json.Unmarshal turns into U+FFFD,
			// is left to it.
			if r, n, ok := jsonscan.Unescape(d.b[j:]); ok && (r != utf8.RuneError || !loneSurrogate(d.b[j:])) {
				out = utf8.AppendRune(out, r)
				j += n
				continue
			}
		}
		break
	}
	d.fail()
	return nil, false
}

// loneSurrogate reports whether the escape at the start of b is a \u
// escape of a UTF-16 surrogate (which jsonscan.Unescape decodes to U+FFFD
// when no other half follows).
func loneSurrogate(b []byte) bool {
	c, _ := jsonscan.Hex4(b[2:])
	return b[1] == 'u' && utf16.IsSurrogate(c)
}

// str reads a string into *dst, or a null that leaves it, as
// json.Unmarshal does.
func (d *Decoder) str(dst *string) {
	if d.null() {
		return
	}
	s, at, ok := d.rawString()
	if ok {
		*dst = d.text(s, at)
	}
}

// word is str for a field whose few usual values ("assistant", "stop",
// "function", …) are returned without a copy.
func (d *Decoder) word(dst *string) {
	if d.null() {
		return
	}
	s, at, ok := d.rawString()
	if !ok {
		return
	}
	switch string(s) {
	case "assistant":
		*dst = "assistant"
	case "stop":
		*dst = "stop"
	case "length":
		*dst = "length"
	case "tool_calls":
		*dst = "tool_calls"
	case "content_filter":
		*dst = "content_filter"
	case "function":
		*dst = "function"
	default:
		*dst = d.text(s, at)
	}
}

// text makes the string of s from rawString. Decoded escapes already
// are a buffer of their own. Other strings point into d.b when d.Alias
// is set; otherwise into one copy of the rest of the chunk, made at the
// first string that needs it, so that a chunk costs one allocation for
// all its strings.
func (d *Decoder) text(s []byte, at int) string {
	switch {
	case len(s) == 0:
		return ""
	case at < 0 || d.Alias:
		return unsafe.String(&s[0], len(s))
	case d.own == nil:
		d.own, d.ownAt = bytes.Clone(d.b[at:]), at
	}
	return unsafe.String(&d.own[at-d.ownAt], len(s))
}

// head reads one of the chunk's own strings, which every chunk of a
// stream repeats: a value equal to the last chunk's is that string,
// otherwise a copy that becomes the last.
func (d *Decoder) head(dst *string, slot int) {
	if d.null() {
		return
	}
	s, at, ok := d.rawString()
	if !ok {
		return
	}
	if string(s) != d.last[slot] {
		if at < 0 {
			d.last[slot] = unsafe.String(unsafe.SliceData(s), len(s))
		} else {
			d.last[slot] = string(s)
		}
	}
	*dst = d.last[slot]
}

// integer reads an integer, or a null, which leaves a field as it is.
// Only a plain integer of up to 18 digits is read: json.Unmarshal
// refuses a fraction or an exponent, and decides about longer ones.
func (d *Decoder) integer() (v int64, null bool) {
	d.ws()
	j := d.i
	if j < len(d.b) && d.b[j] == 'n' {
		if !d.null() {
			d.fail()
		}
		return 0, true
	}
	neg := j < len(d.b) && d.b[j] == '-'
	if neg {
		j++
	}
	digits := j
	var u uint64
	for ; j < len(d.b); j++ {
		c := d.b[j] - '0'
		if c > 9 {
			break
		}
		u = u*10 + uint64(c)
	}
	switch n := j - digits; {
	case n == 0, n > 18, n > 1 && d.b[digits] == '0':
		d.fail()
		return 0, false
	case j < len(d.b) && (d.b[j] == '.' || d.b[j]|0x20 == 'e'):
		d.fail()
		return 0, false
	}
	d.i = j
	if v = int64(u); neg {
		v = -v
	}
	return v, false
}

// int64 reads an integer into *dst, or a null that leaves it.
func (d *Decoder) int64(dst *int64) {
	if v, null := d.integer(); !null {
		*dst = v
	}
}

// int reads an integer into *dst, or a null that leaves it.
func (d *Decoder) int(dst *int) {
	v, null := d.integer()
	if null {
		return
	}
	if int64(int(v)) != v {
		d.fail() // too large for a 32-bit int
	}
	*dst = int(v)
}

// float reads a number into *dst, or a null that leaves it, as the
// strconv.ParseFloat that json.Unmarshal uses does; a number out of range
// is left to json.Unmarshal.
func (d *Decoder) float(dst *float64) {
	if d.null() {
		return
	}
	j, err := jsonscan.SkipNumber(d.b, d.i)
	if err != nil {
		d.fail()
		return
	}
	f, ok := exactFloat(d.b[d.i:j])
	if !ok {
		f, err = strconv.ParseFloat(unsafe.String(&d.b[d.i], j-d.i), 64)
		if err != nil {
			d.fail()
			return
		}
	}
	d.i, *dst = j, f
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactFloat converts num, a valid JSON number, when its digits make an
// integer m below 2^53 and its value is m·10^e with |e| ≤ 22: m and 10^|e|
// are then exact float64 values, and one IEEE multiplication or division
// rounds their product or quotient correctly, so the result is the one
// strconv.ParseFloat returns (which takes the same path for such
// numbers). Log-probabilities such as -0.25 or -1.2e-05 are of this kind.
func exactFloat(num []byte) (float64, bool) {
	i, neg := 0, num[0] == '-'
	if neg {
		i++
	}
	var m uint64
	nd, e, frac := 0, 0, false // significant digits, decimal exponent, past the dot
	for ; i < len(num); i++ {
		c := num[i]
		if c == '.' {
			frac = true
			continue
		}
		if c < '0' || c > '9' {
			break // the exponent's 'e' or 'E'
		}
		if frac {
			e--
		}
		if m == 0 && c == '0' {
			continue // a leading zero
		}
		if nd++; nd > 15 {
			return 0, false // m might not be below 2^53
		}
		m = m*10 + uint64(c-'0')
	}
	if i < len(num) {
		i++
		sign := 1
		switch num[i] {
		case '-':
			sign = -1
			i++
		case '+':
			i++
		}
		x := 0
		for ; i < len(num); i++ {
			if x = x*10 + int(num[i]-'0'); x > 1000 {
				return 0, false
			}
		}
		e += sign * x
	}
	f := float64(m)
	switch {
	case e < -22 || e > 22:
		return 0, false
	case e < 0:
		f /= pow10[-e]
	default:
		f *= pow10[e]
	}
	if neg {
		f = -f
	}
	return f, true
}
