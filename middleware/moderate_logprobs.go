package middleware

import (
	"slices"
	"strings"
)

// Logprobs of a filtered stream.
//
// A chunk's logprobs spell out the text of its content token by token, so
// they are held back with that text: each entry is released once all the
// content bytes it covers have been released, and dropped on a cut. An
// entry's coverage is the length of its "bytes" array (chat) or of its
// token string, a legacy "bytes:\xe2\x80" token counting the bytes it
// lists. A coverage that runs ahead of the text only delays entries (all
// of a choice's entries go out when its text ends); one that lags would
// release them early, which the exact counts above avoid.

// The arrays of a legacy completions logprobs object, in the order they are
// written.
var modCompletionLogprobKeys = [...]string{"tokens", "token_logprobs", "top_logprobs", "text_offset"}

// modLogprob is one token's logprob entry of a streamed choice.
type modLogprob struct {
	// end is the number of the choice's content bytes up to and including
	// this token (while parsing a chunk: this token's bytes alone).
	end int
	// raw is the entry's JSON: for chat, raw[0] is the element of
	// logprobs.content; for completions, the token's element of each of
	// modCompletionLogprobKeys (nil where that array is missing or short).
	// The entries of a chunk point into its data; held entries own copies.
	raw [len(modCompletionLogprobKeys)][]byte
}

// clone returns e with copies of its JSON, to outlive the chunk's data.
func (e modLogprob) clone() modLogprob {
	n := 0
	for _, r := range e.raw {
		n += len(r)
	}
	buf := make([]byte, 0, n)
	for k, r := range e.raw {
		if r != nil {
			buf = append(buf, r...)
			e.raw[k] = buf[len(buf)-len(r) : len(buf) : len(buf)]
		}
	}
	return e
}

// modChunkLogprobs is where a chunk choice's logprobs are and what they
// carry.
type modChunkLogprobs struct {
	start, end int  // the logprobs value's span (object or null); end 0 when absent
	null       bool // the value is null
	// Chat: the span of logprobs.content (end 0 when absent), whether it
	// is null, and where a content member may be inserted into the object.
	cStart, cEnd int
	cNull        bool
	insert       int
	insertComma  bool
	mask         uint8 // completions: which of modCompletionLogprobKeys are arrays
	from, to     int   // the chunk's entries: modStream.lpIn[from:to]
	outFrom      int   // the entries sent with the chunk: modStream.lpOut[outFrom:outTo]
	outTo        int
	changed      bool // what is sent differs from what arrived
}

// parseLogprobs reads a choice's logprobs value at d into a new element of
// s.chunkLP, its entries into s.lpIn. Members it does not hold back
// (chat's refusal, …) mark the choice as carrying more than content.
func (s *modStream) parseLogprobs(d *scanner, cc *modChunkChoice) error {
	s.chunkLP = append(s.chunkLP, modChunkLogprobs{})
	cc.lp = len(s.chunkLP)
	lp := &s.chunkLP[cc.lp-1]
	d.ws()
	lp.start, lp.from, lp.to = d.i, len(s.lpIn), len(s.lpIn)
	defer func() { lp.end, lp.to = d.i, len(s.lpIn) }()
	if d.peek() != '{' {
		lp.null = d.peek() == 'n'
		cc.keep = cc.keep || !lp.null
		return d.skip()
	}
	members := 0
	for m := 0; ; m++ {
		key, more, err := d.obj(m)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		members++
		switch k := slices.Index(modCompletionLogprobKeys[:], key); {
		case s.chat && key == "content":
			err = s.parseChatLogprobs(d, lp)
		case !s.chat && k >= 0 && d.peek() == '[':
			err = s.parseCompletionLogprobs(d, lp, k)
		default:
			cc.keep = cc.keep || d.peek() != 'n'
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	lp.insert, lp.insertComma = d.i-1, members > 0
	return nil
}

// parseChatLogprobs reads logprobs.content: an array of entries, or null.
func (s *modStream) parseChatLogprobs(d *scanner, lp *modChunkLogprobs) error {
	d.ws()
	lp.cStart = d.i
	defer func() { lp.cEnd = d.i }()
	if d.peek() != '[' {
		lp.cNull = d.peek() == 'n'
		return d.skip()
	}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil || !more {
			return err
		}
		d.ws()
		start := d.i
		var e modLogprob
		if e.end, err = chatLogprobBytes(d); err != nil {
			return err
		}
		e.raw[0] = d.b[start:d.i]
		s.lpIn = append(s.lpIn, e)
	}
}

// chatLogprobBytes reads one entry of logprobs.content and returns how many
// content bytes it covers: the length of its bytes array, or else of its
// token.
func chatLogprobBytes(d *scanner) (int, error) {
	if d.peek() != '{' {
		return 0, d.skip()
	}
	token, nbytes := 0, -1
	for m := 0; ; m++ {
		key, more, err := d.obj(m)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		switch {
		case key == "token" && d.peek() == '"':
			var t string
			t, err = d.str()
			token = tokenBytes(t)
		case key == "bytes" && d.peek() == '[':
			nbytes = 0
			for n := 0; ; n++ {
				more, err := d.arr(n)
				if err != nil {
					return 0, err
				}
				if !more {
					break
				}
				if err := d.skip(); err != nil {
					return 0, err
				}
				nbytes++
			}
		default:
			err = d.skip()
		}
		if err != nil {
			return 0, err
		}
	}
	if nbytes >= 0 {
		return nbytes, nil
	}
	return token, nil
}

// parseCompletionLogprobs reads the k-th array of a legacy logprobs object
// into the chunk's entries, element i into entry i.
func (s *modStream) parseCompletionLogprobs(d *scanner, lp *modChunkLogprobs, k int) error {
	lp.mask |= 1 << k
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil || !more {
			return err
		}
		if lp.from+n == len(s.lpIn) {
			s.lpIn = append(s.lpIn, modLogprob{})
		}
		e := &s.lpIn[lp.from+n]
		d.ws()
		start := d.i
		if k == 0 && d.peek() == '"' {
			var t string
			if t, err = d.str(); err == nil {
				e.end = tokenBytes(t)
			}
		} else {
			err = d.skip()
		}
		if err != nil {
			return err
		}
		e.raw[k] = d.b[start:d.i]
	}
}

// tokenBytes is the number of text bytes a token stands for: a token of
// the form "bytes:\xe2\x80" (how legacy completions write a token that is
// part of a UTF-8 character) for the bytes it lists, any other for its own
// length.
func tokenBytes(tok string) int {
	rest, ok := strings.CutPrefix(tok, "bytes:")
	if !ok || rest == "" || len(rest)%4 != 0 {
		return len(tok)
	}
	for i := 0; i < len(rest); i += 4 {
		if rest[i] != '\\' || rest[i+1] != 'x' || !isHexDigit(rest[i+2]) || !isHexDigit(rest[i+3]) {
			return len(tok)
		}
	}
	return len(rest) / 4
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// takeLogprobs decides which logprob entries go out with this chunk's
// choice cc: the held ones and then the chunk's own, in order, as far as
// the choice's released text covers them (all of them when all is set,
// as the text has ended). The rest are held, copied. A choice without
// logprobs gets an empty one, to carry the released entries.
func (s *modStream) takeLogprobs(st *modStreamChoice, cc *modChunkChoice, all bool) *modChunkLogprobs {
	if cc.lp == 0 {
		s.chunkLP = append(s.chunkLP, modChunkLogprobs{})
		cc.lp = len(s.chunkLP)
	}
	lp := &s.chunkLP[cc.lp-1]
	in := s.lpIn[lp.from:lp.to]
	for i := range in {
		st.lpSeen += in[i].end
		in[i].end = st.lpSeen
	}
	st.lpMask |= lp.mask
	released := st.received - len(st.pending)
	lp.outFrom = len(s.lpOut)
	k := 0
	for k < len(st.held) && (all || st.held[k].end <= released) {
		k++
	}
	s.lpOut = append(s.lpOut, st.held[:k]...)
	st.held = st.held[:copy(st.held, st.held[k:])]
	j := 0
	if len(st.held) == 0 {
		for j < len(in) && (all || in[j].end <= released) {
			j++
		}
		s.lpOut = append(s.lpOut, in[:j]...)
	}
	for _, e := range in[j:] {
		st.held = append(st.held, e.clone())
	}
	lp.outTo = len(s.lpOut)
	lp.changed = k > 0 || j < len(in)
	return lp
}

// appendLogprobEntries appends the entries as the value of a chat
// logprobs.content array.
func appendLogprobEntries(b []byte, es []modLogprob) []byte {
	b = append(b, '[')
	for i, e := range es {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.raw[0]...)
	}
	return append(b, ']')
}

// appendLogprobs appends a whole logprobs object holding es: chat's
// {"content":[…]}, or the legacy arrays named in mask.
func (s *modStream) appendLogprobs(b []byte, es []modLogprob, mask uint8) []byte {
	if s.chat {
		return append(appendLogprobEntries(append(b, `{"content":`...), es), '}')
	}
	b = append(b, '{')
	n := 0
	for k, key := range modCompletionLogprobKeys {
		if mask&(1<<k) == 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(append(append(b, '"'), key...), `":[`...)
		for i, e := range es {
			if i > 0 {
				b = append(b, ',')
			}
			if e.raw[k] == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, e.raw[k]...)
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// logprobSplice appends to sp the change that makes cc's logprobs (cc.lp
// is set) carry the entries chosen by takeLogprobs. textInserted says a text member was
// inserted at the choice's closing brace (completions), which the
// logprobs member then follows.
func (s *modStream) logprobSplice(sp []modSplice, cc *modChunkChoice, mask uint8, textInserted bool) []modSplice {
	lp := &s.chunkLP[cc.lp-1]
	es := s.lpOut[lp.outFrom:lp.outTo]
	switch {
	case !lp.changed:
		return sp
	case s.chat && lp.cEnd > 0:
		if lp.cNull && len(es) == 0 {
			return sp
		}
		return append(sp, modSplice{lp.cStart, lp.cEnd, appendLogprobEntries(nil, es)})
	case s.chat && lp.end > 0 && !lp.null:
		if len(es) == 0 {
			return sp
		}
		v := []byte(nil)
		if lp.insertComma {
			v = append(v, ',')
		}
		v = appendLogprobEntries(append(v, `"content":`...), es)
		return append(sp, modSplice{lp.insert, lp.insert, v})
	case lp.end > 0 && (!lp.null || len(es) > 0):
		return append(sp, modSplice{lp.start, lp.end, s.appendLogprobs(nil, es, mask)})
	case lp.end == 0 && len(es) > 0:
		v := []byte(nil)
		if cc.choiceComma || textInserted {
			v = append(v, ',')
		}
		v = s.appendLogprobs(append(v, `"logprobs":`...), es, mask)
		return append(sp, modSplice{cc.choiceEnd, cc.choiceEnd, v})
	}
	return sp
}
