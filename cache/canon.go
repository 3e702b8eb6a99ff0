package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidJSON is returned (wrapped) when a request body is not valid
// JSON and so has no canonical key.
var ErrInvalidJSON = errors.New("cache: invalid JSON")

// maxDepth is the nesting limit of encoding/json's scanner, so that a body
// json.Valid accepts is a body the canonicaliser accepts.
const maxDepth = 10000

// The canonical form of a JSON value is JSON text itself, so that a body
// which is already canonical in a stretch passes through that stretch
// untouched: no whitespace; object members sorted by name and, of
// duplicates, the last one only; strings in the form of
// appendCanonString; numbers by exact decimal value (see canon.number);
// true, false, null and array order as they are. It is a JSON encoding
// of the decoded value, so two different values never share it.

// member is an object member whose canonical text is at output positions
// [start, end) (its name's quote to the end of its value). Its name's
// canonical body is src[k0:k1], or buf[k0:k1] when inBuf (a name that was
// not canonical as written). pre holds the name's first eight bytes,
// big-endian and zero-padded, so that most comparisons of two names are
// one comparison of two words.
type member struct {
	pre                uint64
	k0, k1, start, end int
	inBuf              bool
}

// keyPrefix returns the pre of a member whose name is k.
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

// name returns the canonical body of m's name.
func (m *member) name(src, buf []byte) []byte {
	if m.inBuf {
		return buf[m.k0:m.k1]
	}
	return src[m.k0:m.k1]
}

// cmpMembers compares the names of a and b bytewise, as bytes.Compare
// does. Names are compared in their canonical form, which is one-to-one
// with the decoded name, so the order is a function of the decoded names.
func cmpMembers(src, buf []byte, a, b *member) int {
	if a.pre != b.pre {
		if a.pre < b.pre {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.name(src, buf), b.name(src, buf))
}

// canon writes the canonical form of one JSON text after the key prefix
// already in buf. It is the hot path of key computation: one pass over the
// input, no allocation once its buffers have grown.
//
// Output is written lazily. The output is always buf followed by
// src[run:i], the stretch of input read since the last change: canonical
// bytes are not copied one value at a time but when something differs
// (whitespace to drop, a string or number to rewrite, members to reorder
// or leave out) or at the end. An output position is therefore
// len(buf) + i - run while that stretch is pending.
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

// sum returns the SHA-256 of the prefix and the canonical form: one call
// over one buffer, which on this hash is much cheaper than many small
// writes.
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
// For an object, objStart is the output position after its '{', base is
// len(mem) when it opened and sorted reports whether its members came in
// order so far; the member whose value is being read starts at output
// position start, its name is described by k0, k1, inBuf and pre (as in
// member), and drop says it is left out.
type frame struct {
	obj, top, sorted bool
	inBuf, drop      bool
	objStart, base   int
	start, k0, k1    int
	pre              uint64
}

// document canonicalises the whole input: one value with optional
// whitespace around it. It is one loop with an explicit stack of open
// containers, keeping the input position, the pending stretch and the
// output in locals: that is most of its speed.
func (c *canon) document() error {
	s := c.src
	buf, mem, stack := c.buf, c.mem[:0], c.stack[:0]
	var f *frame
	i := skipWS(s, 0)
	run := i // the output is buf + s[run:i]
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
		i++
		start := len(buf) + i - run
		if i < len(s) && s[i] <= ' ' {
			buf = append(buf, s[run:i]...)
			i = skipWS(s, i)
			run = i
		}
		if ch == '{' {
			if i < len(s) && s[i] == '}' {
				i++
				goto next
			}
			f = push(&stack)
			f.obj, f.top, f.sorted, f.drop, f.objStart, f.base = true, len(stack) == 1, true, false, start, len(mem)
			goto key
		}
		if i < len(s) && s[i] == ']' {
			i++
			goto next
		}
		f = push(&stack)
		f.obj = false
		goto value
	case '"':
		if j := plainEnd(s, i+1); j >= 0 {
			i = j + 1
			goto next
		}
		c.buf = append(buf, s[run:i]...)
		if _, _, _, err := c.strSlow(i + 1); err != nil {
			return err
		}
		i, buf = c.pos, c.buf
		run = i
		goto next
	case 't', 'f', 'n':
		word := "null"
		switch ch {
		case 't':
			word = "true"
		case 'f':
			word = "false"
		}
		if len(s)-i < len(word) || string(s[i:i+len(word)]) != word {
			return fail(i, "invalid literal")
		}
		i += len(word)
		goto next
	default:
		if ch != '-' && (ch < '0' || ch > '9') {
			return fail(i, fmt.Sprintf("invalid character %q looking for a value", ch))
		}
		// A plain integer of up to maxPlainDigits digits, without a
		// leading zero and not -0, is canonical as written.
		j := i
		if ch == '-' {
			j++
		}
		d := j
		for j < len(s) && s[j]-'0' < 10 {
			j++
		}
		if n := j - d; n == 0 || n > maxPlainDigits || s[d] == '0' && (n > 1 || d > i) ||
			j < len(s) && (s[j] == '.' || s[j]|0x20 == 'e') {
			c.buf = append(buf, s[run:i]...)
			c.pos = i
			if err := c.number(); err != nil {
				return err
			}
			i, buf = c.pos, c.buf
			run = i
			goto next
		}
		i = j
		goto next
	}

next: // a value ended just before s[i]
	if len(stack) == 0 {
		buf = append(buf, s[run:i]...)
		if i = skipWS(s, i); i != len(s) {
			return fail(i, "data after the top-level value")
		}
		c.buf, c.mem, c.stack = buf, mem[:0], stack[:0] // keep what grew
		return nil
	}
	f = &stack[len(stack)-1]
	if f.obj {
		if f.drop {
			// Leave the member out, with the comma before it if a member
			// was kept before it (else the comma after it goes, below).
			cut := f.start
			if len(mem) > f.base {
				cut--
			}
			if cut < len(buf) {
				buf = buf[:cut]
			} else {
				buf = append(buf, s[run:run+cut-len(buf)]...)
			}
			run = i
		} else {
			// Fields are stored one by one into their place: a member
			// built aside and copied in stalls on store forwarding.
			n := len(mem)
			if n < cap(mem) {
				mem = mem[:n+1]
			} else {
				mem = append(mem, member{})
			}
			m := &mem[n]
			m.pre, m.k0, m.k1, m.start, m.end, m.inBuf = f.pre, f.k0, f.k1, f.start, len(buf)+i-run, f.inBuf
			if n > f.base && f.sorted && cmpMembers(s, buf, &mem[n-1], m) >= 0 {
				f.sorted = false
			}
		}
	}
	if i < len(s) && s[i] <= ' ' {
		buf = append(buf, s[run:i]...)
		i = skipWS(s, i)
		run = i
	}
	if i >= len(s) {
		return fail(i, "unexpected end of input in array or object")
	}
	switch ch := s[i]; {
	case ch == ',':
		i++
		if f.obj && len(mem) == f.base {
			// Only left-out members so far: their commas go too.
			buf = append(buf, s[run:i-1]...)
			run = i
		}
		if i < len(s) && s[i] <= ' ' {
			buf = append(buf, s[run:i]...)
			i = skipWS(s, i)
			run = i
		}
		if f.obj {
			goto key
		}
		goto value
	case ch == '}' && f.obj:
		if !f.sorted {
			buf = append(buf, s[run:i]...)
			run = i
			c.mem = mem
			buf = c.sortObject(buf, f.objStart, f.base)
		}
		mem = mem[:f.base]
		i++
	case ch == ']' && !f.obj:
		i++
	case f.obj:
		return fail(i, fmt.Sprintf("invalid character %q after object member", ch))
	default:
		return fail(i, fmt.Sprintf("invalid character %q after array element", ch))
	}
	stack = stack[:len(stack)-1]
	goto next

key: // a member starts at s[i]
	if i >= len(s) || s[i] != '"' {
		return fail(i, "object key must be a string")
	}
	f = &stack[len(stack)-1]
	f.start = len(buf) + i - run
	if j := plainEnd(s, i+1); j >= 0 {
		n := j - i - 1
		if n < 8 && i+9 <= len(s) { // the name's first n bytes, zero-padded
			f.pre = binary.BigEndian.Uint64(s[i+1:]) &^ (^uint64(0) >> (8 * n))
		} else {
			f.pre = keyPrefix(s[i+1 : j])
		}
		f.k0, f.k1, f.inBuf = i+1, j, false
		if f.top {
			f.drop = c.skip(s[i+1 : j])
		}
		i = j + 1
	} else {
		c.buf = append(buf, s[run:i]...)
		dec, k0, k1, err := c.strSlow(i + 1)
		if err != nil {
			return err
		}
		i, buf = c.pos, c.buf
		run = i
		f.k0, f.k1, f.inBuf = k0, k1, true
		f.pre = keyPrefix(buf[k0:k1])
		if f.top {
			f.drop = c.skip(dec)
		}
	}
	if i < len(s) && s[i] <= ' ' {
		buf = append(buf, s[run:i]...)
		i = skipWS(s, i)
		run = i
	}
	if i >= len(s) || s[i] != ':' {
		return fail(i, "missing ':' after object key")
	}
	i++
	if i < len(s) && s[i] <= ' ' {
		buf = append(buf, s[run:i]...)
		i = skipWS(s, i)
		run = i
	}
	goto value
}

// push appends a frame to *stack and returns it; its fields are stale, to
// be set one by one (see the members in document).
func push(stack *[]frame) *frame {
	st := *stack
	if n := len(st); n < cap(st) {
		st = st[:n+1]
	} else {
		st = append(st, frame{})
	}
	*stack = st
	return &st[len(st)-1]
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
// buf[objStart:], listed in c.mem[base:], in order of their names,
// comma-separated, and returns the new buf; of members with equal names
// only the last one is kept, as encoding/json (and most JSON decoders)
// keep the last.
func (c *canon) sortObject(buf []byte, objStart, base int) []byte {
	src, ms := c.src, c.mem[base:]
	dup := false
	if len(ms) <= 12 {
		for i := 1; i < len(ms); i++ { // stable insertion sort
			m := ms[i]
			j := i
			for ; j > 0; j-- {
				d := cmpMembers(src, buf, &ms[j-1], &m)
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
			d := cmpMembers(src, buf, &a, &b)
			dup = dup || d == 0
			return d
		})
	}
	out := c.scratch[:0]
	for i := range ms {
		m := &ms[i]
		if dup && i+1 < len(ms) && cmpMembers(src, buf, m, &ms[i+1]) == 0 {
			continue // a later duplicate wins
		}
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, buf[m.start:m.end]...)
	}
	c.scratch = out
	return append(buf[:objStart], out...)
}
