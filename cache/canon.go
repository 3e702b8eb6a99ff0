package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalidJSON is returned (wrapped) when a request body is not valid
// JSON and so has no canonical key.
var ErrInvalidJSON = errors.New("cache: invalid JSON")

// maxDepth is the nesting limit of encoding/json's scanner, so that a body
// json.Valid accepts is a body the canonicaliser accepts.
const maxDepth = 10000

// Tags of the canonical encoding. Every value starts with a tag; objects
// and arrays end with tagEnd, which no value starts with, and each object
// member starts with tagMember, so the encoding is self-delimiting and two
// different JSON values never share an encoding.
const (
	tagObject  = 'o'
	tagArray   = 'a'
	tagMember  = 'k'
	tagEnd     = 'e'
	tagString  = 's'
	tagNumber  = 'n' // sign, digits without leading or trailing zeros, exponent
	tagRawNum  = 'N' // a number whose exponent overflowed: its text verbatim
	tagTrue    = 't'
	tagFalse   = 'f'
	tagNull    = 'z'
	signPlus   = '+'
	signMinus  = '-'
	maxExpDigs = 15 // exponents with more significant digits are kept verbatim
)

// member is an object member already written to canon.buf: its key bytes
// are buf[k0:k1] and the whole member (tag, key, value) is buf[start:end].
// pre holds the first eight key bytes, big-endian and zero-padded, so that
// most comparisons of two keys are one comparison of two words.
type member struct {
	pre                uint64
	k0, k1, start, end int
}

// keyPrefix returns the pre of a member whose key is k.
func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var p uint64
	for i, ch := range k {
		p |= uint64(ch) << (56 - 8*i)
	}
	return p
}

// cmpKeys compares the keys of a and b, members written to buf, bytewise
// as bytes.Compare does.
func cmpKeys(buf []byte, a, b *member) int {
	if a.pre != b.pre {
		if a.pre < b.pre {
			return -1
		}
		return 1
	}
	return bytes.Compare(buf[a.k0:a.k1], buf[b.k0:b.k1])
}

// canon writes the canonical encoding of one JSON text into buf. It is the
// hot path of key computation: one pass over the input, no allocation once
// its buffers have grown.
type canon struct {
	src     []byte
	pos     int
	buf     []byte
	scratch []byte
	mem     []member
	stack   []frame
	// ignore names the top-level members left out of the key; skipModel
	// leaves out "model" too.
	ignore    *ignoreSet
	skipModel bool
}

// sum returns the SHA-256 of the canonical encoding: one call over one
// buffer, which on this hash is much cheaper than many small writes.
func (c *canon) sum() [sha256.Size]byte {
	return sha256.Sum256(c.buf)
}

func (c *canon) reset(src []byte, ignore *ignoreSet, skipModel bool) {
	c.src, c.pos = src, 0
	c.ignore, c.skipModel = ignore, skipModel
	c.mem = c.mem[:0]
}

// skip reports whether a top-level member named name is left out.
func (c *canon) skip(name []byte) bool {
	if c.skipModel && string(name) == "model" {
		return true
	}
	return c.ignore.has(name)
}

// frame is an open array or object of the document being canonicalised.
// For an object, objStart is where its members start in buf, base is
// len(mem) when it opened and sorted reports whether its members came in
// order so far; start, k0, k1 and pre describe the member whose value is
// being read (as in member).
type frame struct {
	obj, top, sorted bool
	objStart, base   int
	start, k0, k1    int
	pre              uint64
}

// document canonicalises the whole input: one value with optional
// whitespace around it. It is one loop with an explicit stack of open
// containers, keeping the input position and the output in locals: that
// is most of its speed.
func (c *canon) document() error {
	s := c.src
	buf, mem, stack := c.buf, c.mem, c.stack[:0]
	var f *frame
	i := skipWS(s, 0)
	fail := func(at int, msg string) error {
		c.pos = at
		return c.errorf("%s", msg)
	}
value:
	if i >= len(s) {
		return fail(i, "unexpected end of input")
	}
	switch ch := s[i]; ch {
	case '{', '[':
		if len(stack) >= maxDepth {
			return fail(i, "exceeded max depth")
		}
		obj := ch == '{'
		tag, end := byte(tagArray), byte(']')
		if obj {
			tag, end = tagObject, '}'
		}
		buf = append(buf, tag)
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == end {
			i++
			buf = append(buf, tagEnd)
			goto next
		}
		stack = append(stack, frame{obj: obj, top: obj && len(stack) == 0, sorted: true, objStart: len(buf), base: len(mem)})
		if obj {
			goto key
		}
		goto value
	case '"':
		buf = append(buf, tagString)
		if j := plainString(s, i+1); j >= 0 {
			buf = binary.AppendUvarint(buf, uint64(j-i-1))
			buf = append(buf, s[i+1:j]...)
			i = j + 1
			goto next
		}
		c.buf = buf
		if err := c.strSlow(i + 1); err != nil {
			return err
		}
		i, buf = c.pos, c.buf
		goto next
	case 't', 'f', 'n':
		word, tag := "null", byte(tagNull)
		switch ch {
		case 't':
			word, tag = "true", tagTrue
		case 'f':
			word, tag = "false", tagFalse
		}
		if len(s)-i < len(word) || string(s[i:i+len(word)]) != word {
			return fail(i, "invalid literal")
		}
		buf = append(buf, tag)
		i += len(word)
		goto next
	default:
		if ch != '-' && (ch < '0' || ch > '9') {
			return fail(i, fmt.Sprintf("invalid character %q looking for a value", ch))
		}
		c.pos, c.buf = i, buf
		if err := c.number(); err != nil {
			return err
		}
		i, buf = c.pos, c.buf
		goto next
	}

next: // a value ended just before s[i]
	if len(stack) == 0 {
		if i = skipWS(s, i); i != len(s) {
			return fail(i, "data after the top-level value")
		}
		c.buf, c.mem, c.stack = buf, mem[:0], stack[:0] // keep what grew
		return nil
	}
	f = &stack[len(stack)-1]
	if f.obj {
		if f.top && c.skip(buf[f.k0:f.k1]) {
			buf = buf[:f.start]
		} else {
			m := member{pre: f.pre, k0: f.k0, k1: f.k1, start: f.start, end: len(buf)}
			if n := len(mem); n > f.base && f.sorted && cmpKeys(buf, &mem[n-1], &m) >= 0 {
				f.sorted = false
			}
			mem = append(mem, m)
		}
	}
	if i = skipWS(s, i); i >= len(s) {
		return fail(i, "unexpected end of input in array or object")
	}
	switch ch := s[i]; {
	case ch == ',':
		i = skipWS(s, i+1)
		if f.obj {
			goto key
		}
		goto value
	case ch == '}' && f.obj:
		i++
		if !f.sorted {
			c.buf, c.mem = buf, mem
			c.sortObject(f.objStart, f.base)
			buf = c.buf
		}
		mem = mem[:f.base]
	case ch == ']' && !f.obj:
		i++
	case f.obj:
		return fail(i, fmt.Sprintf("invalid character %q after object member", ch))
	default:
		return fail(i, fmt.Sprintf("invalid character %q after array element", ch))
	}
	buf = append(buf, tagEnd)
	stack = stack[:len(stack)-1]
	goto next

key: // a member starts at s[i]
	if i >= len(s) || s[i] != '"' {
		return fail(i, "object key must be a string")
	}
	f = &stack[len(stack)-1]
	f.start = len(buf)
	buf = append(buf, tagMember)
	if j := plainString(s, i+1); j >= 0 {
		n := j - i - 1
		if n < 8 && i+9 <= len(s) { // the key's first n bytes, zero-padded
			f.pre = binary.BigEndian.Uint64(s[i+1:]) &^ (^uint64(0) >> (8 * n))
		} else {
			f.pre = keyPrefix(s[i+1 : j])
		}
		buf = binary.AppendUvarint(buf, uint64(n))
		f.k0 = len(buf)
		buf = append(buf, s[i+1:j]...)
		i = j + 1
	} else {
		c.buf = buf
		if err := c.strSlow(i + 1); err != nil {
			return err
		}
		i, buf = c.pos, c.buf
		_, w := binary.Uvarint(buf[f.start+1:])
		f.k0 = f.start + 1 + w
		f.pre = keyPrefix(buf[f.k0:])
	}
	f.k1 = len(buf)
	if i = skipWS(s, i); i >= len(s) || s[i] != ':' {
		return fail(i, "missing ':' after object key")
	}
	i = skipWS(s, i+1)
	goto value
}

func (c *canon) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrInvalidJSON, c.pos, fmt.Sprintf(format, args...))
}

// skipWS returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipWS(s []byte, i int) int {
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// sortObject puts the members of the object whose members start at
// buf[objStart:], listed in mem[base:], in order of their keys; of
// members with equal keys only the last one is kept, as encoding/json
// (and most JSON decoders) keep the last.
func (c *canon) sortObject(objStart, base int) {
	buf, ms := c.buf, c.mem[base:]
	dup := false
	if len(ms) <= 12 {
		for i := 1; i < len(ms); i++ { // stable insertion sort
			m := ms[i]
			j := i
			for ; j > 0; j-- {
				d := cmpKeys(buf, &ms[j-1], &m)
				if d <= 0 {
					dup = dup || d == 0
					break
				}
				ms[j] = ms[j-1]
			}
			ms[j] = m
		}
	} else {
		slices.SortStableFunc(ms, func(a, b member) int {
			d := cmpKeys(buf, &a, &b)
			dup = dup || d == 0
			return d
		})
	}
	out := c.scratch[:0]
	for i := range ms {
		m := &ms[i]
		if dup && i+1 < len(ms) && cmpKeys(buf, m, &ms[i+1]) == 0 {
			continue // a later duplicate wins
		}
		out = append(out, buf[m.start:m.end]...)
	}
	c.scratch = out
	c.buf = append(buf[:objStart], out...)
}

// plainString returns the index of the quote that closes the string whose
// body starts at s[i], or -1 if the body needs decoding (it holds an
// escape or invalid UTF-8) or is not valid (a control byte, no closing
// quote), which strSlow sorts out. A plain body decodes to itself. The
// scan goes eight bytes at a time and stops only at bytes that need a
// look: a quote, a backslash, a control byte or the first byte of a
// multi-byte rune.
func plainString(s []byte, i int) int {
	for {
		for i+8 <= len(s) {
			if m := specialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			return -1
		}
		ch := s[i]
		switch {
		case strClass[ch] == 0:
			i++
		case ch == '"':
			return i
		case ch < utf8.RuneSelf:
			return -1 // a backslash or a control byte
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return -1 // invalid UTF-8 becomes U+FFFD
			}
			i += size
		}
	}
}

// specialMask returns a word with the high bit set in each byte of x (a
// little-endian load of eight string bytes) that is a quote, a backslash,
// a control byte or not ASCII. Only the lowest set byte is exact, higher
// ones may be false alarms: callers use its trailing zeros alone.
func specialMask(x uint64) uint64 {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x | (q-ones)&^q | (b-ones)&^b | x) & highs
}

// strSlow scans the string whose body starts at start byte by byte,
// resolving escapes and reporting errors.
func (c *canon) strSlow(start int) error {
	simple := true
	i := start
	for i < len(c.src) {
		if i+8 <= len(c.src) && strClass[c.src[i]] == 0 {
			if i = plainRun(c.src, i); i >= len(c.src) {
				break
			}
		}
		ch := c.src[i]
		if strClass[ch] == 0 {
			i++
			continue
		}
		if ch == '"' {
			break
		}
		switch {
		case ch == '\\':
			simple = false
			i += 2 // the escaped byte cannot close the string
			continue
		case ch < 0x20:
			c.pos = i
			return c.errorf("invalid control character in string")
		}
		simple = false // not ASCII
		i++
	}
	if i >= len(c.src) {
		c.pos = i
		return c.errorf("unexpected end of input in string")
	}
	if simple || utf8.Valid(c.src[start:i]) && bytes.IndexByte(c.src[start:i], '\\') < 0 {
		c.buf = binary.AppendUvarint(c.buf, uint64(i-start))
		c.buf = append(c.buf, c.src[start:i]...)
		c.pos = i + 1
		return nil
	}
	dec, err := c.unescape(start, i)
	if err != nil {
		return err
	}
	c.buf = binary.AppendUvarint(c.buf, uint64(len(dec)))
	c.buf = append(c.buf, dec...)
	c.pos = i + 1
	return nil
}

// unescape decodes src[start:end] (a string body) into c.scratch.
func (c *canon) unescape(start, end int) ([]byte, error) {
	s := c.src[:end]
	out := c.scratch[:0]
	for r := start; r < end; {
		ch := s[r]
		switch {
		case ch == '\\':
			if r+1 >= end {
				c.pos = r
				return nil, c.errorf("invalid escape")
			}
			switch e := s[r+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				r += 2
			case 'b':
				out, r = append(out, '\b'), r+2
			case 'f':
				out, r = append(out, '\f'), r+2
			case 'n':
				out, r = append(out, '\n'), r+2
			case 'r':
				out, r = append(out, '\r'), r+2
			case 't':
				out, r = append(out, '\t'), r+2
			case 'u':
				rr := hex4(s, r+2)
				if rr < 0 {
					c.pos = r
					return nil, c.errorf("invalid \\u escape")
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+1 < end && s[r] == '\\' && s[r+1] == 'u' {
						rr1 = hex4(s, r+2)
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						r += 6
						break
					}
					rr = utf8.RuneError
				}
				out = utf8.AppendRune(out, rr)
			default:
				c.pos = r
				return nil, c.errorf("invalid escape character %q", e)
			}
		case ch < utf8.RuneSelf:
			out = append(out, ch)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, s[r:r+size]...)
			}
			r += size
		}
	}
	c.scratch = out
	return out, nil
}

// strClass is non-zero for the bytes the string scanner must look at: a
// quote, a backslash, a control byte or a byte that is not ASCII.
var strClass = func() (t [256]uint8) {
	for i := range t {
		if i < 0x20 || i == '"' || i == '\\' || i >= utf8.RuneSelf {
			t[i] = 1
		}
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the first index at or after i, rounded down to a word,
// where s may hold a byte that is a quote, a backslash, a control byte or
// not ASCII; it skips eight plain bytes at a time.
func plainRun(s []byte, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ (ones * '"')
		b := x ^ (ones * '\\')
		special := (x - ones*0x20) | (q - ones) | (b - ones) // high bit set where a byte is below 0x20, '"' or '\\' (or, harmlessly, ≥ 0x80)
		if (special|x)&highs != 0 {
			return i
		}
	}
	return i
}

// hex4 decodes the four hex digits at s[i:], or returns -1.
func hex4(s []byte, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, ch := range s[i : i+4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			ch = ch - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(ch)
	}
	return r
}
