package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// ErrInvalidJSON is returned (wrapped) when a request body is not valid
// JSON and so has no canonical key.
var ErrInvalidJSON = errors.New("cache: invalid JSON")

// The canonical form of a JSON value is JSON text itself, so that a body
// which is already canonical in a stretch passes through that stretch
// untouched: no whitespace; object members sorted by name and, of
// duplicates, the last one only; strings in the form of
// appendCanonString; numbers by exact decimal value (see canon.number);
// true, false, null and array order as they are. It is a JSON encoding
// of the decoded value, so two different values never share it.
//
// It is computed in two passes. parse reads the input once, validating
// it, and notes only where the canonical form differs from the input, as
// events in input order: whitespace to leave out, a string or number to
// write differently, an object whose members are to be written in another
// order (or some of them left out). emit then writes the canonical form by
// copying the input between events, so every byte is copied once, however
// deeply the objects that are reordered nest. Input that is canonical
// already makes no event and is copied in one piece.

// evKind is the kind of an event.
type evKind uint8

const (
	// evNop is the place kept for an object's event when it opened; the
	// object turned out to be canonical as written.
	evNop evKind = iota
	// evSkip leaves src[start:end] out (whitespace).
	evSkip
	// evReplace writes aux[a:b] in place of src[start:end] (a string or a
	// number that is not canonical as written).
	evReplace
	// evObject writes the object at src[start:end] from its members
	// kept[a:b], in that order, each from its own span of the input; the
	// events inside the object are events[ev+1:next] (ev its own).
	evObject
	// evSwap writes the object at src[start:end], two members with no
	// event inside, second member first: {"role":"user","content":"…"}
	// as most clients write messages. Its second member starts at src[a].
	evSwap
)

// event is a place where the canonical form differs from the input.
type event struct {
	start, end int
	a, b       int
	next       int
	kind       evKind
}

// member is an object member: its input from the name's opening quote to
// the end of its value is src[start:end], and its events are
// events[ev:evEnd]. Its name's canonical body is src[k0:k1], or
// aux[k0:k1] when inAux (a name that was not canonical as written). pre
// holds the name's first eight bytes, big-endian and zero-padded, so that
// most comparisons of two names are one comparison of two words. drop
// says it is left out.
type member struct {
	pre         uint64
	k0, k1      int
	start, end  int
	ev, evEnd   int
	inAux, drop bool
}

// span is the input of a member written by an evObject, as in member.
type span struct {
	start, end, ev, evEnd int
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
func (m *member) name(src, aux []byte) []byte {
	if m.inAux {
		return aux[m.k0:m.k1]
	}
	return src[m.k0:m.k1]
}

// cmpMembers compares the names of a and b bytewise, as bytes.Compare
// does. Names are compared in their canonical form, which is one-to-one
// with the decoded name, so the order is a function of the decoded names.
func cmpMembers(src, aux []byte, a, b *member) int {
	if a.pre != b.pre {
		if a.pre < b.pre {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.name(src, aux), b.name(src, aux))
}

// canon computes canonical forms. Its buffers are kept from one document
// to the next, so that once they have grown it does not allocate.
type canon struct {
	src []byte
	pos int // where an error is, for errorf
	end int // where the top-level value ends
	// buf is the output: the canonical form is appended to what it holds.
	buf []byte
	// aux holds the canonical text of the strings and numbers that are
	// not canonical as written.
	aux []byte
	// scratch holds a decoded string.
	scratch []byte
	events  []event
	// mem holds the members of the open objects, kept the spans of the
	// members of the objects that are reordered, in their order; ord is
	// closeObject's.
	mem   []member
	kept  []span
	ord   []int32
	stack []frame
	// ignore names the top-level members left out of the key; skipModel
	// leaves out "model" too.
	ignore    *ignoreSet
	skipModel bool
}

// frame is an open array or object of the document. An object opened at
// src[start] with its first member at mem[base] and its event at
// events[ev]; reorder says that its members are to be written in another
// order than their input order, or some of them left out.
type frame struct {
	obj, top, reorder bool
	base, ev, start   int
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
}

// skip reports whether a top-level member named name is left out.
func (c *canon) skip(name []byte) bool {
	if c.skipModel && string(name) == "model" {
		return true
	}
	return c.ignore.has(name)
}

// document appends the canonical form of the input, one JSON value with
// optional whitespace around it, to c.buf.
func (c *canon) document() error {
	if err := c.parse(); err != nil {
		return err
	}
	if len(c.events) == 0 {
		c.buf = append(c.buf, c.src[:c.end]...)
	} else {
		c.buf = c.emit(c.buf, 0, c.end, 0)
	}
	return nil
}

// event appends an event to c.events and returns it; its fields are
// stale, to be set one by one (a composite copied in stalls on store
// forwarding).
func (c *canon) event() *event {
	n := len(c.events)
	if n < cap(c.events) {
		c.events = c.events[:n+1]
	} else {
		c.events = append(c.events, event{})
	}
	return &c.events[n]
}

// parse validates the input and records its events (see canon). It is one
// loop with an explicit stack of open containers that keeps only the input
// and the position in locals and calls out only for string values
// (jsonscan.PlainText, whose vector loop repays the call on long text) and
// for what is rare (whitespace, strings that are not plain ASCII, numbers
// that are not plain integers, closing an object): every call costs the
// spilling of every live register. Names are scanned in line.
func (c *canon) parse() error {
	s := c.src
	c.events, c.mem, c.kept, c.stack, c.aux = c.events[:0], c.mem[:0], c.kept[:0], c.stack[:0], c.aux[:0]
	i := 0
	if len(s) > 0 && s[0] <= ' ' {
		i = c.space(0)
	}
	var f *frame // the innermost open container, nil at the top level
value:
	if i >= len(s) {
		return c.fail(i, "unexpected end of input")
	}
	switch ch := s[i]; ch {
	case '"':
		j := jsonscan.PlainText(s, i+1)
		if j < len(s) && s[j] == '"' {
			i = j + 1
			goto next
		}
		j, _, err := c.str(i, j, false)
		if err != nil {
			return err
		}
		i = j
		goto next
	case '{', '[':
		n := len(c.stack)
		if n >= jsonscan.MaxDepth {
			return c.fail(i, "exceeded max depth")
		}
		if n < cap(c.stack) {
			c.stack = c.stack[:n+1]
		} else {
			c.stack = append(c.stack, frame{})
		}
		f = &c.stack[n]
		f.obj = ch == '{'
		i++
		if !f.obj {
			if i < len(s) && s[i] <= ' ' {
				i = c.space(i)
			}
			if i < len(s) && s[i] == ']' {
				i++
				goto pop
			}
			goto value
		}
		f.top, f.reorder, f.base, f.ev, f.start = n == 0, false, len(c.mem), len(c.events), i-1
		e := c.event()
		e.kind, e.start = evNop, i-1
		if i < len(s) && s[i] == '"' {
			goto key
		}
		if i < len(s) && s[i] <= ' ' {
			i = c.space(i)
		}
		if i < len(s) && s[i] == '}' {
			i++
			c.closeObject(f, i)
			goto pop
		}
		goto key
	case 't':
		if len(s)-i >= 4 && binary.LittleEndian.Uint32(s[i:]) == 't'|'r'<<8|'u'<<16|'e'<<24 {
			i += 4
			goto next
		}
		return c.fail(i, "invalid literal")
	case 'n':
		if len(s)-i >= 4 && binary.LittleEndian.Uint32(s[i:]) == 'n'|'u'<<8|'l'<<16|'l'<<24 {
			i += 4
			goto next
		}
		return c.fail(i, "invalid literal")
	case 'f':
		if len(s)-i >= 5 && binary.LittleEndian.Uint32(s[i+1:]) == 'a'|'l'<<8|'s'<<16|'e'<<24 {
			i += 5
			goto next
		}
		return c.fail(i, "invalid literal")
	default:
		if ch != '-' && (ch < '0' || ch > '9') {
			if ch <= ' ' {
				if j := c.space(i); j > i {
					i = j
					goto value
				}
			}
			return c.fail(i, fmt.Sprintf("invalid character %q looking for a value", ch))
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
			var err error
			if j, err = c.num(i); err != nil {
				return err
			}
		}
		i = j
		goto next
	}

next: // a value ended just before s[i]
	if f == nil {
		c.end = i
		if i = jsonscan.SkipWS(s, i); i != len(s) {
			return c.fail(i, "data after the top-level value")
		}
		return nil
	}
	if f.obj {
		m := &c.mem[len(c.mem)-1]
		m.end, m.evEnd = i, len(c.events)
	}
	// Whitespace is looked for only where a separator is not found (here,
	// at key and at value), as most input has none.
sep:
	if i >= len(s) {
		return c.fail(i, "unexpected end of input in array or object")
	}
	switch ch := s[i]; {
	case ch == ',':
		i++
		if f.obj {
			goto key
		}
		goto value
	case ch == '}' && f.obj:
		i++
		// The two commonest objects are closed here, as the call of
		// closeObject would cost more than they do: one in order with
		// nothing inside to rewrite (as openai-go writes most), and one
		// of two members with nothing inside to rewrite, whose names are
		// out of order at their first eight bytes, so that they are
		// swapped ({"role","content"}, as Python's client writes every
		// message). Members are left out only at the top level.
		if ev := len(c.events) - 1; f.ev == ev {
			if !f.reorder {
				c.mem, c.events = c.mem[:f.base], c.events[:ev]
				goto pop
			}
			if b := len(c.mem) - 1; b == f.base+1 && !f.top && c.mem[f.base].pre > c.mem[b].pre {
				e := &c.events[ev]
				e.kind, e.start, e.end, e.a = evSwap, f.start, i, c.mem[b].start
				c.mem = c.mem[:f.base]
				goto pop
			}
		}
		c.closeObject(f, i)
	case ch == ']' && !f.obj:
		i++
	default:
		if j := c.space(i); j > i { // whitespace before the separator
			i = j
			goto sep
		}
		if f.obj {
			return c.fail(i, fmt.Sprintf("invalid character %q after object member", ch))
		}
		return c.fail(i, fmt.Sprintf("invalid character %q after array element", ch))
	}
pop:
	if n := len(c.stack) - 1; n > 0 {
		c.stack = c.stack[:n]
		f = &c.stack[n-1]
	} else {
		c.stack, f = c.stack[:0], nil
	}
	goto next

key: // a member starts at s[i]
	if i >= len(s) || s[i] != '"' {
		if i < len(s) && s[i] <= ' ' {
			if j := c.space(i); j > i {
				i = j
				goto key
			}
		}
		return c.fail(i, "object key must be a string")
	}
	{
		n := len(c.mem)
		if n < cap(c.mem) {
			c.mem = c.mem[:n+1]
		} else {
			c.mem = append(c.mem, member{})
		}
		m := &c.mem[n]
		m.start, m.ev, m.drop = i, len(c.events), false
		// A plain name: its first word gives both its end, when it is
		// shorter than eight bytes, and its pre.
		j := -1
		if i+9 <= len(s) {
			w := binary.LittleEndian.Uint64(s[i+1:])
			if mk := jsonscan.SpecialMask(w); mk != 0 {
				if k := bits.TrailingZeros64(mk) >> 3; s[i+1+k] == '"' {
					m.pre, j = bits.ReverseBytes64(w&^(^uint64(0)<<(8*k))), i+1+k
				}
			} else if j = jsonscan.PlainRun(s, i+9); j < len(s) && s[j] == '"' {
				m.pre = bits.ReverseBytes64(w)
			} else {
				j = -1
			}
		} else if j = jsonscan.PlainRun(s, i+1); j < len(s) && s[j] == '"' {
			m.pre = keyPrefix(s[i+1 : j])
		} else {
			j = -1
		}
		if j >= 0 {
			m.k0, m.k1, m.inAux = i+1, j, false
			if f.top && c.skip(s[i+1:j]) {
				m.drop, f.reorder = true, true
			}
			i = j + 1
		} else {
			var err error
			if i, err = c.keySlow(f, m, i); err != nil {
				return err
			}
		}
		if !f.reorder && n > f.base {
			if p := &c.mem[n-1]; p.pre > m.pre || p.pre == m.pre && cmpMembers(s, c.aux, p, m) >= 0 {
				f.reorder = true
			}
		}
	}
	// The ':' most often follows the name at once.
	if i >= len(s) || s[i] != ':' {
		if i < len(s) && s[i] <= ' ' {
			i = c.space(i)
		}
		if i >= len(s) || s[i] != ':' {
			return c.fail(i, "missing ':' after object key")
		}
	}
	i++
	goto value
}

// fail returns the error msg at input offset at.
func (c *canon) fail(at int, msg string) error {
	c.pos = at
	return c.errorf("%s", msg)
}

func (c *canon) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrInvalidJSON, c.pos, fmt.Sprintf(format, args...))
}

// space skips the whitespace at src[i:], if any, records it as an evSkip
// and returns where it ends.
func (c *canon) space(i int) int {
	j := jsonscan.SkipWS(c.src, i)
	if j > i {
		e := c.event()
		e.kind, e.start, e.end = evSkip, i, j
	}
	return j
}

// str reads the string that opens at src[i], one that is not plain ASCII
// (src[i+1:from] is), and returns where it ends and, when decode is set,
// its decoded value (valid until the next call). When it is not canonical
// as written, its canonical text goes to aux with an evReplace.
func (c *canon) str(i, from int, decode bool) (end int, dec []byte, err error) {
	if j := plainString(c.src, from); j >= 0 {
		return j + 1, c.src[i+1 : j], nil
	}
	a := len(c.aux)
	dec, asWritten, err := c.strSlow(i+1, from, decode)
	if err != nil {
		return 0, nil, err
	}
	if asWritten {
		return c.pos, dec, nil
	}
	e := c.event()
	e.kind, e.start, e.end, e.a, e.b = evReplace, i, c.pos, a, len(c.aux)
	return c.pos, dec, nil
}

// keySlow reads the name of member m of f, one that is not plain ASCII,
// from src[i] on, and returns where it ends.
func (c *canon) keySlow(f *frame, m *member, i int) (int, error) {
	ev := len(c.events)
	end, dec, err := c.str(i, i+1, true)
	if err != nil {
		return 0, err
	}
	if len(c.events) > ev { // rewritten: the body between aux's quotes
		e := &c.events[ev]
		m.k0, m.k1, m.inAux = e.a+1, e.b-1, true
	} else {
		m.k0, m.k1, m.inAux = i+1, end-1, false
	}
	m.pre = keyPrefix(m.name(c.src, c.aux))
	if f.top && c.skip(dec) {
		m.drop, f.reorder = true, true
	}
	return end, nil
}

// num reads the number at src[i], one that is not a plain integer, and
// returns where it ends; when it is not canonical as written, its
// canonical text goes to aux with an evReplace.
func (c *canon) num(i int) (int, error) {
	a := len(c.aux)
	c.pos = i
	if err := c.number(); err != nil {
		return 0, err
	}
	if bytes.Equal(c.aux[a:], c.src[i:c.pos]) {
		c.aux = c.aux[:a]
	} else {
		e := c.event()
		e.kind, e.start, e.end, e.a, e.b = evReplace, i, c.pos, a, len(c.aux)
	}
	return c.pos, nil
}

// closeObject ends the object f, whose '}' is just before src[end]: it
// drops the object's members from mem and, when they are to be written
// otherwise than as they came, sorts them by name, leaves out the dropped
// ones and, of duplicates, all but the last (as encoding/json, and most
// JSON decoders, keep the last), keeps the spans of the rest in kept, in
// order, and turns the object's place in events into its evObject.
//
// Members are sorted by index, not moved: a member's fields were stored
// one by one just before, and reading the member whole would stall on
// store forwarding.
func (c *canon) closeObject(f *frame, end int) {
	ms := c.mem[f.base:]
	c.mem = c.mem[:f.base]
	if !f.reorder {
		if f.ev == len(c.events)-1 { // nothing inside: the place goes
			c.events = c.events[:f.ev]
		}
		return
	}
	src, aux := c.src, c.aux
	if len(ms) == 2 && !ms[0].drop && !ms[1].drop {
		// The most common case: two members, so out of order (or one
		// name twice, of which the last wins).
		e := &c.events[f.ev]
		if f.ev == len(c.events)-1 && cmpMembers(src, aux, &ms[0], &ms[1]) != 0 {
			// Nothing inside to rewrite, not even whitespace: swap.
			e.kind, e.start, e.end, e.a = evSwap, f.start, end, ms[1].start
			return
		}
		k0 := len(c.kept)
		c.keep(&ms[1])
		if cmpMembers(src, aux, &ms[0], &ms[1]) != 0 {
			c.keep(&ms[0])
		}
		e.kind, e.start, e.end, e.a, e.b, e.next = evObject, f.start, end, k0, len(c.kept), len(c.events)
		return
	}
	ord := slices.Grow(c.ord[:0], len(ms))[:len(ms)]
	dup := false
	if len(ms) <= 12 {
		ord[0] = 0
		for i := 1; i < len(ord); i++ { // stable insertion sort
			x := int32(i)
			m := &ms[i]
			j := i
			for ; j > 0; j-- {
				p := &ms[ord[j-1]]
				if p.pre < m.pre {
					break
				}
				if p.pre == m.pre {
					if d := cmpMembers(src, aux, p, m); d <= 0 {
						dup = dup || d == 0
						break
					}
				}
				ord[j] = ord[j-1]
			}
			ord[j] = x
		}
	} else {
		for i := range ord {
			ord[i] = int32(i)
		}
		slices.SortStableFunc(ord, func(a, b int32) int {
			d := cmpMembers(src, aux, &ms[a], &ms[b])
			dup = dup || d == 0
			return d
		})
	}
	c.ord = ord
	k0 := len(c.kept)
	kept := slices.Grow(c.kept, len(ord))[:k0+len(ord)]
	k := k0
	for i, x := range ord {
		m := &ms[x]
		if m.drop || dup && i+1 < len(ord) && cmpMembers(src, aux, m, &ms[ord[i+1]]) == 0 {
			continue // left out, or a later duplicate wins
		}
		sp := &kept[k]
		sp.start, sp.end, sp.ev, sp.evEnd = m.start, m.end, m.ev, m.evEnd
		k++
	}
	c.kept = kept[:k]
	e := &c.events[f.ev]
	e.kind, e.start, e.end, e.a, e.b, e.next = evObject, f.start, end, k0, k, len(c.events)
}

// keep appends m's span to kept, field by field.
func (c *canon) keep(m *member) {
	n := len(c.kept)
	if n < cap(c.kept) {
		c.kept = c.kept[:n+1]
	} else {
		c.kept = append(c.kept, span{})
	}
	sp := &c.kept[n]
	sp.start, sp.end, sp.ev, sp.evEnd = m.start, m.end, m.ev, m.evEnd
}

// emit appends the canonical form of src[from:to] to buf, where events[ev]
// is the first event at or after from, and returns buf.
func (c *canon) emit(buf []byte, from, to, ev int) []byte {
	s, evs := c.src, c.events
	for ev < len(evs) {
		e := &evs[ev]
		if e.start >= to {
			break
		}
		switch e.kind {
		case evNop:
			ev++
			continue
		case evSkip:
			buf = append(buf, s[from:e.start]...)
			ev++
		case evReplace:
			buf = append(buf, s[from:e.start]...)
			buf = append(buf, c.aux[e.a:e.b]...)
			ev++
		case evSwap: // {first,second} as {second,first}
			// The second member is copied with the '}' after it and the
			// first with the ',' after it, and the two swapped.
			buf = append(buf, s[from:e.start+1]...)
			buf = append(buf, s[e.a:e.end]...)
			buf[len(buf)-1] = ','
			buf = append(buf, s[e.start+1:e.a]...)
			buf[len(buf)-1] = '}'
			ev++
		default: // evObject
			buf = append(buf, s[from:e.start]...)
			buf = append(buf, '{')
			for k := e.a; k < e.b; k++ {
				if k > e.a {
					buf = append(buf, ',')
				}
				if m := &c.kept[k]; m.ev == m.evEnd {
					buf = append(buf, s[m.start:m.end]...)
				} else {
					buf = c.emit(buf, m.start, m.end, m.ev)
				}
			}
			buf = append(buf, '}')
			ev = e.next
		}
		from = e.end
	}
	return append(buf, s[from:to]...)
}
