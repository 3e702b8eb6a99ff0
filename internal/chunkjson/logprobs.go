package chunkjson

import "github.com/llmgate/llmgate/wire"

// logprobs reads a choice's logprobs: {"content":[…],"refusal":[…]}, each
// entry {"token","logprob","bytes":[…],"top_logprobs":[…]}. A stream
// asked for logprobs sends one or a few entries per chunk, each with up
// to twenty alternatives. Each array is read into a reused buffer and
// then copied into a new slice of its exact length: a caller may keep
// the entries (the moderation layer holds them back with their text).
func (d *Decoder) logprobs(dst **wire.ChatLogprobs) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('{') {
		return
	}
	lp := &wire.ChatLogprobs{}
	*dst = lp
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "content":
			d.once(&seen, 1)
			d.tokenLogprobs(&lp.Content)
		case "refusal":
			d.once(&seen, 2)
			d.tokenLogprobs(&lp.Refusal)
		default:
			d.unknown(4)
		}
	}
}

// tokenLogprobs reads an array of entries at depth 5.
func (d *Decoder) tokenLogprobs(dst *[]wire.TokenLogprob) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('[') {
		return
	}
	buf := d.tokens[:0]
	for n := 0; d.elem(n); n++ {
		buf = append(buf, wire.TokenLogprob{})
		if !d.null() {
			d.tokenLogprob(&buf[len(buf)-1])
		}
	}
	*dst = clone(buf)
	clear(buf) // drop what the copies point to
	d.tokens = buf[:0]
}

func (d *Decoder) tokenLogprob(t *wire.TokenLogprob) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "token":
			d.once(&seen, 1)
			d.str(&t.Token)
		case "logprob":
			d.once(&seen, 2)
			d.float(&t.Logprob)
		case "bytes":
			d.once(&seen, 4)
			d.bytes(&t.Bytes)
		case "top_logprobs":
			d.once(&seen, 8)
			d.topLogprobs(&t.TopLogprobs)
		default:
			d.unknown(6)
		}
	}
}

// topLogprobs reads the alternatives of an entry at depth 7.
func (d *Decoder) topLogprobs(dst *[]wire.TopLogprob) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('[') {
		return
	}
	buf := d.tops[:0]
	for n := 0; d.elem(n); n++ {
		buf = append(buf, wire.TopLogprob{})
		if !d.null() {
			d.topLogprob(&buf[len(buf)-1])
		}
	}
	*dst = clone(buf)
	clear(buf)
	d.tops = buf[:0]
}

func (d *Decoder) topLogprob(t *wire.TopLogprob) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "token":
			d.once(&seen, 1)
			d.str(&t.Token)
		case "logprob":
			d.once(&seen, 2)
			d.float(&t.Logprob)
		case "bytes":
			d.once(&seen, 4)
			d.bytes(&t.Bytes)
		default:
			d.unknown(8)
		}
	}
}

// bytes reads the UTF-8 bytes of a token: an array of integers.
func (d *Decoder) bytes(dst *[]int) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('[') {
		return
	}
	buf, ok := d.plainBytes(d.ints[:0])
	if !ok {
		buf = buf[:0]
		for n := 0; d.elem(n); n++ {
			buf = append(buf, 0)
			d.int(&buf[len(buf)-1])
		}
	}
	*dst = d.intsOf(buf)
	d.ints = buf[:0]
}

// intSlabLen is the length of the arrays that intSlab carves (one
// allocation of 512 bytes serves a few chunks of logprobs); longer
// arrays get their own.
const intSlabLen = 64

// intsOf copies buf to the front of d.intSlab and returns the copy, whose
// capacity is its length: appending to it copies it too.
func (d *Decoder) intsOf(buf []int) []int {
	n := len(buf)
	switch {
	case n == 0:
		return []int{}
	case n > intSlabLen/4:
		return clone(buf)
	case n > cap(d.intSlab):
		d.intSlab = make([]int, 0, intSlabLen)
	}
	out := d.intSlab[:n:n]
	copy(out, buf)
	d.intSlab = d.intSlab[n:n]
	return out
}

// plainBytes reads the rest of an array of bytes as servers write it —
// numbers of one to three digits, a comma between them, no space — into
// buf. When the array is not of that form it leaves d.i where it was and
// returns false, and bytes reads it with the general readers.
func (d *Decoder) plainBytes(buf []int) ([]int, bool) {
	b, i := d.b, d.i
	for {
		start, v := i, 0
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			v = v*10 + int(b[i]-'0')
		}
		if n := i - start; n == 0 || n > 3 || n > 1 && b[start] == '0' || i == len(b) {
			return buf, false
		}
		buf = append(buf, v)
		switch b[i] {
		case ',':
			i++
		case ']':
			d.i = i + 1
			return buf, true
		default:
			return buf, false
		}
	}
}

// clone copies s into a new slice of its length, non-nil when empty as
// json.Unmarshal makes [].
func clone[T any](s []T) []T {
	c := make([]T, len(s))
	copy(c, s)
	return c
}
