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

// cmpKeys compares the keys of a and b bytewise, as bytes.Compare does.
func (c *canon) cmpKeys(a, b *member) int {
	if a.pre != b.pre {
		if a.pre < b.pre {
			return -1
		}
		return 1
	}
	return bytes.Compare(c.buf[a.k0:a.k1], c.buf[b.k0:b.k1])
}

// canon writes the canonical encoding of one JSON text into buf. It is the
// hot path of key computation: one pass over the input, no allocation once
// its buffers have grown.
type canon struct {
	src     []byte
	pos     int
	depth   int
	buf     []byte
	scratch []byte
	mem     []member
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
	c.src, c.pos, c.depth = src, 0, 0
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

// document canonicalises the whole input: one value with optional
// whitespace around it.
func (c *canon) document() error {
	c.ws()
	if err := c.value(); err != nil {
		return err
	}
	c.ws()
	if c.pos != len(c.src) {
		return c.errorf("data after the top-level value")
	}
	return nil
}

func (c *canon) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrInvalidJSON, c.pos, fmt.Sprintf(format, args...))
}

func (c *canon) ws() {
	for c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canon) value() error {
	if c.pos >= len(c.src) {
		return c.errorf("unexpected end of input")
	}
	switch ch := c.src[c.pos]; ch {
	case '{':
		return c.object()
	case '[':
		return c.array()
	case '"':
		c.buf = append(c.buf, tagString)
		return c.str()
	case 't':
		return c.literal("true", tagTrue)
	case 'f':
		return c.literal("false", tagFalse)
	case 'n':
		return c.literal("null", tagNull)
	default:
		if ch == '-' || ('0' <= ch && ch <= '9') {
			return c.number()
		}
		return c.errorf("invalid character %q looking for a value", ch)
	}
}

func (c *canon) literal(word string, tag byte) error {
	if !bytes.HasPrefix(c.src[c.pos:], []byte(word)) {
		return c.errorf("invalid literal")
	}
	c.pos += len(word)
	c.buf = append(c.buf, tag)
	return nil
}

func (c *canon) push() error {
	c.depth++
	if c.depth > maxDepth {
		return c.errorf("exceeded max depth")
	}
	return nil
}

func (c *canon) array() error {
	if err := c.push(); err != nil {
		return err
	}
	c.pos++ // '['
	c.buf = append(c.buf, tagArray)
	c.ws()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		c.buf = append(c.buf, tagEnd)
		c.depth--
		return nil
	}
	for {
		c.ws()
		if err := c.value(); err != nil {
			return err
		}
		c.ws()
		if c.pos >= len(c.src) {
			return c.errorf("unexpected end of input in array")
		}
		switch c.src[c.pos] {
		case ',':
			c.pos++
		case ']':
			c.pos++
			c.buf = append(c.buf, tagEnd)
			c.depth--
			return nil
		default:
			return c.errorf("invalid character %q after array element", c.src[c.pos])
		}
	}
}

func (c *canon) object() error {
	if err := c.push(); err != nil {
		return err
	}
	top := c.depth == 1
	c.pos++ // '{'
	c.buf = append(c.buf, tagObject)
	objStart := len(c.buf)
	base := len(c.mem)
	sorted := true
	c.ws()
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
		c.buf = append(c.buf, tagEnd)
		c.depth--
		return nil
	}
	for {
		c.ws()
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return c.errorf("object key must be a string")
		}
		start := len(c.buf)
		c.buf = append(c.buf, tagMember)
		if err := c.str(); err != nil {
			return err
		}
		k0, k1 := keySpan(c.buf, start+1)
		c.ws()
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return c.errorf("missing ':' after object key")
		}
		c.pos++
		c.ws()
		if err := c.value(); err != nil {
			return err
		}
		if top && c.skip(c.buf[k0:k1]) {
			c.buf = c.buf[:start]
		} else {
			m := member{pre: keyPrefix(c.buf[k0:k1]), k0: k0, k1: k1, start: start, end: len(c.buf)}
			if n := len(c.mem); n > base && c.cmpKeys(&c.mem[n-1], &m) >= 0 {
				sorted = false
			}
			c.mem = append(c.mem, m)
		}
		c.ws()
		if c.pos >= len(c.src) {
			return c.errorf("unexpected end of input in object")
		}
		switch c.src[c.pos] {
		case ',':
			c.pos++
			continue
		case '}':
			c.pos++
		default:
			return c.errorf("invalid character %q after object member", c.src[c.pos])
		}
		break
	}
	if !sorted {
		c.sortMembers(base)
		c.reorder(objStart, base)
	}
	c.mem = c.mem[:base]
	c.buf = append(c.buf, tagEnd)
	c.depth--
	return nil
}

// keySpan returns the span of the key bytes of a string encoding (length
// prefix, then bytes) that starts at i.
func keySpan(buf []byte, i int) (int, int) {
	n, w := binary.Uvarint(buf[i:])
	return i + w, i + w + int(n)
}

// sortMembers sorts mem[base:] by key, keeping the input order of equal
// keys.
func (c *canon) sortMembers(base int) {
	ms := c.mem[base:]
	if len(ms) <= 12 {
		for i := 1; i < len(ms); i++ { // stable insertion sort
			for j := i; j > 0 && c.cmpKeys(&ms[j-1], &ms[j]) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
		return
	}
	slices.SortStableFunc(ms, func(a, b member) int { return c.cmpKeys(&a, &b) })
}

// reorder rewrites the members of the object whose members start at
// buf[objStart:] in the order of mem[base:] (sorted); of members with
// equal keys only the last one is kept, as encoding/json (and most JSON
// decoders) keep the last.
func (c *canon) reorder(objStart, base int) {
	ms := c.mem[base:]
	out := c.scratch[:0]
	for i := range ms {
		m := &ms[i]
		if i+1 < len(ms) && c.cmpKeys(m, &ms[i+1]) == 0 {
			continue // a later duplicate wins
		}
		out = append(out, c.buf[m.start:m.end]...)
	}
	c.scratch = out
	c.buf = append(c.buf[:objStart], out...)
}

// str writes the string at c.pos as a length-prefixed run of its decoded
// bytes. Decoding follows encoding/json exactly: escapes are resolved,
// surrogate pairs combined, and each invalid UTF-8 byte and each lone
// surrogate becomes U+FFFD, so two spellings that encoding/json decodes to
// the same string get the same encoding.
func (c *canon) str() error {
	c.pos++ // opening quote
	start := c.pos
	// Fast path, one pass: find the closing quote eight bytes at a time,
	// stopping only at bytes that need a look (a quote, a backslash, a
	// control byte, the first byte of a multi-byte rune). A string without
	// escapes that is valid UTF-8 decodes to itself.
	s := c.src
	i := start
	for {
		for i+8 <= len(s) {
			if m := specialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		ch := s[i]
		if strClass[ch] == 0 {
			i++
			continue
		}
		if ch == '"' {
			c.buf = binary.AppendUvarint(c.buf, uint64(i-start))
			c.buf = append(c.buf, s[start:i]...)
			c.pos = i + 1
			return nil
		}
		if ch < utf8.RuneSelf {
			break // a backslash or a control byte
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break // invalid UTF-8 becomes U+FFFD
		}
		i += size
	}
	return c.strSlow(start)
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
