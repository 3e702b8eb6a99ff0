package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/wire"
)

// maxStreamChoices bounds the choice index a filtered stream accepts (n is
// at most 128 at OpenAI); a larger one ends the stream.
const maxStreamChoices = 1024

// modStream filters one SSE stream: it parses the events the handler
// writes, feeds each choice's content to a moderation.StreamFilter, and
// its reasoning (reasoning_content or reasoning, see modMessageText) to
// another, and re-emits the chunks with only the released text. A choice's
// reasoning is judged as ended when its content starts.
type modStream struct {
	mw   *modWriter
	chat bool
	p    wire.Parser
	sw   *wire.Writer

	choices []*modStreamChoice // by choice index
	chunk   modChunk           // the event being processed, reused
	sp      []modSplice
	chunkLP []modChunkLogprobs // the logprobs of the chunk's choices, reused
	lpIn    []modLogprob       // the logprob entries of the chunk's choices, reused
	lpOut   []modLogprob       // the entries sent with the chunk's choices, reused

	// The last chunk's identity, for the chunks the filter writes itself.
	id, object, model, created string

	// The events held while a tool call is open (see judgeCalls), their
	// size, and the text they carry (withheld if they are dropped).
	heldEvents []wire.Event
	heldBytes  int
	heldText   []string

	cut  bool  // the stream was cut: nothing more is sent
	done bool  // [DONE] was sent
	err  error // the first error writing to the client
}

// modStreamChoice is the filter state of one choice.
type modStreamChoice struct {
	f          *moderation.StreamFilter
	pending    string                   // received, not yet released
	rf         *moderation.StreamFilter // the reasoning's filter, once there is reasoning
	rpending   string                   // reasoning received, not yet released
	rnames     uint8                    // modMessageText bits of the reasoning members seen
	finished   bool                     // its finish_reason was sent
	received   int                      // content bytes received
	held       []modLogprob             // logprob entries whose text is not released yet, in order
	lpSeen     int                      // content bytes covered by the logprob entries received
	lpMask     uint8                    // completions: the logprobs arrays seen
	calls      []modCall                // its tool calls (and legacy function call)
	callOpen   bool                     // the last of calls may go on: not judged yet
	finishHeld bool                     // its finish_reason is in a held event, not sent
}

// modCall is one tool call of a stream: its arguments, and a custom
// call's input, as received until it is judged, then nil. They are kept
// apart as a client reads them apart: pieces of one interleaved with
// pieces of the other must not hide what each says whole.
type modCall struct {
	index       int // or modFunctionCall
	args, input []byte
	judged      bool
}

// modCallArgs is a piece of the arguments (or of a custom call's input) of
// a tool call in one chunk.
type modCallArgs struct {
	index       int
	args, input string
}

// modChunk is what the filter needs of one chunk.
type modChunk struct {
	choices []modChunkChoice
	keep    bool // carries more than content (usage, …): never dropped
	err     bool // an {"error":…} event
}

// modChunkChoice is one choice of a chunk: where its content is, and
// whether it carries anything else.
type modChunkChoice struct {
	index       int
	content     string
	start, end  int  // the content value's span (string or null); end 0 when absent
	insert      int  // where a content member may be inserted: the closing brace of delta (or of the choice)
	insertComma bool // that object has members already
	finish      bool // finish_reason is set
	keep        bool // carries more than content
	release     string
	reasoning   string        // the reasoning text of the delta
	rspans      [2][2]int     // the spans of reasoning_content's and reasoning's values; end 0 when absent
	rtexts      [2]string     // their texts
	rseen       uint8         // modMessageText bits of the reasoning members read
	parts       string        // the text judged whole: content sent as an array of parts, a refusal
	hasParts    bool          // content is an array of parts
	hasRefusal  bool          // a refusal member was read
	rrelease    string        // the reasoning released with this chunk
	hasDelta    bool          // a delta object was read (insert is its closing brace)
	delta       [2]int        // the span of a delta that is not an object; end 0 when none
	rnull       [2][2]int     // the spans of reasoning_content and reasoning when null
	choiceEnd   int           // the choice's closing brace
	choiceComma bool          // the choice has members
	lp          int           // its logprobs: modStream.chunkLP[lp-1]; 0 when it has none
	calls       []modCallArgs // the pieces of tool call arguments of the delta
	hasCalls    bool          // tool_calls or function_call was read
}

func newModStream(mw *modWriter) *modStream {
	s := &modStream{mw: mw, chat: mw.c.Chat != nil, sw: wire.NewWriter(mw.w)}
	s.object, s.created = wire.ObjectChatCompletionChunk, "0"
	if !s.chat {
		s.object = wire.ObjectTextCompletion
	}
	return s
}

// write feeds b to the parser and handles every complete event. After a
// cut it fails with ErrContentFiltered; after a failed write to the client
// with that error.
func (s *modStream) write(b []byte) (int, error) {
	if s.cut {
		return 0, ErrContentFiltered
	}
	if s.err != nil {
		return 0, s.err
	}
	s.p.Feed(b)
	for !s.cut && s.err == nil {
		ev, ok, err := s.p.Next()
		switch {
		case err != nil:
			s.cutWith(nil, fmt.Errorf("middleware: moderate: %w", err))
		case !ok:
			return len(b), nil
		case ev.IsDone():
			s.closeAll()
			if !s.cut {
				s.send(s.sw.WriteDone())
				s.done = true
			}
		default:
			s.event(ev)
		}
	}
	if s.cut {
		s.p.Reset()
		return len(b), ErrContentFiltered
	}
	return len(b), s.err
}

// end runs when the handler returned: held-back text is judged and
// released (or cut), without a [DONE] the handler did not send.
func (s *modStream) end() {
	if s.cut || s.done || s.err != nil {
		return
	}
	_ = s.p.End()
	s.closeAll()
}

func (s *modStream) send(err error) {
	if err != nil && s.err == nil {
		s.err = err
	}
}

// event filters one data event.
func (s *modStream) event(ev wire.Event) {
	ch := &s.chunk
	// An event of another type is filtered like any other (openai-go
	// reads every event but thread.* ones as a chunk) and keeps its type.
	typ := ev.Type
	if typ == "message" {
		typ = "" // the default
	}
	if err := s.parseChunk(ev.Data); err != nil {
		// Fail closed: a client's parser may read text in data the filter
		// cannot (Python's json.loads takes NaN, say), so data that is not
		// a chunk the filter could check is never forwarded.
		s.cutWith(nil, err)
		return
	}
	if ch.err && len(ch.choices) == 0 {
		// An upstream error event: nothing to moderate.
		s.out(typ, ev.Data)
		return
	}
	ctx := s.mw.r.Context()
	changed, empty := false, true
	s.lpOut = s.lpOut[:0]
	for k := range ch.choices {
		cc := &ch.choices[k]
		st := s.choiceState(cc.index)
		if st == nil {
			s.cutWith(nil, fmt.Errorf("middleware: moderate: choice index %d out of range", cc.index))
			return
		}
		st.rnames |= cc.reasoningNames()
		rrelease, err := s.judgeReasoning(st, cc)
		if err != nil || rrelease.cut {
			s.cutWith(rrelease.res, err)
			return
		}
		cc.rrelease = rrelease.text
		if (cc.hasParts || cc.parts != "") && (st.f.Pending() > 0 || len(st.held) > 0) {
			// Held-back text would have to go into content that is an
			// array, or beside a refusal.
			s.cutWith(nil, errModMixed)
			return
		}
		if cc.parts != "" {
			if err := s.judgeParts(st, cc); err != nil {
				return
			}
		}
		if len(cc.calls) > 0 || cc.finish || cc.content != "" {
			if err := s.judgeCalls(st, cc); err != nil {
				return
			}
		}
		var release strings.Builder
		if cc.content != "" {
			st.pending += cc.content
			st.received += len(cc.content)
			d, err := st.f.Write(ctx, cc.content)
			if d.Cut || err != nil {
				s.cutWith(&d.Result, err)
				return
			}
			release.WriteString(d.Release)
		}
		if cc.finish {
			d, err := st.f.Close(ctx)
			if d.Cut || err != nil {
				s.cutWith(&d.Result, err)
				return
			}
			release.WriteString(d.Release)
			st.finished = true
		}
		cc.release = release.String()
		st.pending = st.pending[len(cc.release):]
		lpChanged, lpSent := false, false
		if !cc.hasParts && cc.parts == "" && (cc.lp != 0 || len(st.held) > 0) {
			// (A chunk of parts passes whole, its logprobs with it; nothing
			// is held when it comes.)
			lp := s.takeLogprobs(st, cc, st.finished) // a finished choice's text is all out
			lpChanged, lpSent = lp.changed, lp.outTo > lp.outFrom
		}
		if cc.release != cc.content || cc.rrelease != cc.reasoning || lpChanged {
			changed = true
		}
		if cc.release != "" || cc.rrelease != "" || cc.keep || lpSent {
			empty = false
		}
	}
	switch {
	case !changed:
		s.out(typ, ev.Data)
	case empty && !ch.keep && len(ch.choices) > 0:
		// Only held-back content: the chunk is dropped.
		if !s.callsOpen() {
			s.flushHeld()
		}
	default:
		s.out(typ, s.patch(ev.Data))
	}
}

// out sends an event, or holds it while a tool call is open: a call's
// chunks go out once it is judged, with the events held before them.
func (s *modStream) out(typ string, data []byte) {
	if !s.callsOpen() {
		s.flushHeld()
		s.send(s.sw.WriteEvent(wire.Event{Type: typ, Data: data}))
		return
	}
	for k := range s.chunk.choices {
		cc := &s.chunk.choices[k]
		s.heldText = append(s.heldText, cc.release, cc.rrelease, cc.parts)
		for _, p := range cc.calls {
			s.heldText = append(s.heldText, p.args, p.input)
		}
		if cc.finish {
			s.choices[cc.index].finishHeld = true
		}
	}
	if s.heldBytes += len(data); s.heldBytes > s.mw.m.cfg.MaxBufferedBody {
		s.cutWith(nil, errModCallTooLarge)
		return
	}
	s.heldEvents = append(s.heldEvents, wire.Event{Type: typ, Data: bytes.Clone(data)})
}

// callsOpen reports whether a choice has a tool call that is not judged.
func (s *modStream) callsOpen() bool {
	for _, st := range s.choices {
		if st != nil && st.callOpen {
			return true
		}
	}
	return false
}

// flushHeld sends the events held while a tool call was open.
func (s *modStream) flushHeld() {
	if s.heldEvents == nil {
		return
	}
	for _, ev := range s.heldEvents {
		s.send(s.sw.WriteEvent(ev))
	}
	s.heldEvents, s.heldBytes, s.heldText = nil, 0, nil
	for _, st := range s.choices {
		if st != nil {
			st.finishHeld = false
		}
	}
}

// choiceState returns the state of choice i, creating it.
func (s *modStream) choiceState(i int) *modStreamChoice {
	if i < 0 || i >= maxStreamChoices {
		return nil
	}
	for len(s.choices) <= i {
		s.choices = append(s.choices, nil)
	}
	if s.choices[i] == nil {
		s.choices[i] = &modStreamChoice{f: moderation.NewStreamFilter(s.mw.m.cfg.Stream)}
	}
	return s.choices[i]
}

// modVerdict is what judging a choice's reasoning for one chunk came to:
// the text to release, or a cut (res the verdict, nil when the moderator
// failed).
type modVerdict struct {
	text string
	cut  bool
	res  *wire.ModerationResult
}

// judgeReasoning feeds the reasoning of cc to st's reasoning filter and
// returns what is released with the chunk. The reasoning held back is
// judged as ended, and released, when the choice's content or a tool call
// starts or the choice finishes.
func (s *modStream) judgeReasoning(st *modStreamChoice, cc *modChunkChoice) (modVerdict, error) {
	if cc.reasoning == "" && (st.rf == nil || st.rpending == "") {
		return modVerdict{}, nil
	}
	ctx := s.mw.r.Context()
	if st.rf == nil {
		st.rf = moderation.NewStreamFilter(s.mw.m.cfg.Stream)
	}
	var out strings.Builder
	if cc.reasoning != "" {
		st.rpending += cc.reasoning
		d, err := st.rf.Write(ctx, cc.reasoning)
		if d.Cut || err != nil {
			return modVerdict{cut: true, res: &d.Result}, err
		}
		out.WriteString(d.Release)
	}
	if (cc.content != "" || cc.finish || len(cc.calls) > 0) && st.rpending != "" {
		d, err := st.rf.Close(ctx)
		if d.Cut || err != nil {
			return modVerdict{cut: true, res: &d.Result}, err
		}
		out.WriteString(d.Release)
	}
	v := modVerdict{text: out.String()}
	st.rpending = st.rpending[len(v.text):]
	return v, nil
}

// judgeParts judges the text of content sent as an array of parts
// (Mistral's thinking and text chunks), and a refusal, which the filter
// passes or cuts whole: it cannot release a part of an array, nor hold a
// refusal back (refusals stream from OpenAI in a few deltas, in place of
// content). The text goes through the
// choice's content filter, which holds nothing back when it comes (see
// errModMixed), judged as the end of the text so far: the text before it
// is its context, and it is the context of what follows, parts or
// strings. A flagged phrase split across two chunks is cut at the second,
// the first half sent. On a cut it returns a non-nil error, the stream
// being cut already.
func (s *modStream) judgeParts(st *modStreamChoice, cc *modChunkChoice) error {
	ctx := s.mw.r.Context()
	d, err := st.f.Write(ctx, cc.parts)
	if !d.Cut && err == nil {
		d, err = st.f.Close(ctx)
	}
	if d.Cut || err != nil {
		s.mw.withhold(cc.parts)
		s.cutWith(&d.Result, err)
		return ErrContentFiltered
	}
	cc.keep = true // passes as it came
	return nil
}

// judgeCalls adds the pieces of tool call arguments of cc, a chunk with
// some or with a finish or content, to st, and judges each call that cc
// shows to be complete: the calls that came
// before the last one of cc, or all of them when cc finishes the choice
// or carries content. A call is judged whole, once, its arguments as the
// tool reads them (see modArgsText): a call's pieces cannot be judged
// one by one the way content is, as its text is JSON whose escapes only
// the whole decodes, and a remote moderator would be asked once per
// piece. So the chunks of a call are held (see out) until it is judged,
// and then sent as they came. On a cut it returns a non-nil error, the
// stream being cut already.
func (s *modStream) judgeCalls(st *modStreamChoice, cc *modChunkChoice) error {
	for _, p := range cc.calls {
		c := st.call(p.index)
		if c.judged && (p.args != "" || p.input != "") {
			// Judged whole and sent: what comes now cannot be.
			s.cutWith(nil, errModCallReopened)
			return ErrContentFiltered
		}
		c.args, c.input = append(c.args, p.args...), append(c.input, p.input...)
	}
	open := modNoCall // the call that may go on in the next chunk
	if n := len(cc.calls); n > 0 && !cc.finish && cc.content == "" {
		open = cc.calls[n-1].index
	}
	st.callOpen = open != modNoCall
	return s.judgeCallsBut(st, open, cc.calls)
}

// judgeCallsBut judges every call of st not judged yet but the one with
// index open; cur are the pieces of the chunk at hand, not held yet. On a
// cut it returns a non-nil error, the stream being cut already.
func (s *modStream) judgeCallsBut(st *modStreamChoice, open int, cur []modCallArgs) error {
	for i := range st.calls {
		c := &st.calls[i]
		if c.index == open || c.judged {
			continue
		}
		text := joinNonEmpty(modArgsText(string(c.args)), modArgsText(string(c.input)))
		c.args, c.input, c.judged = nil, nil, true
		if text == "" {
			continue
		}
		res, err := moderateEach(s.mw.r.Context(), s.mw.m.cfg.Moderator, []moderation.Input{{Text: text}})
		if err != nil {
			s.cutWith(nil, err)
			return err
		}
		if res[0].Flagged {
			for _, p := range cur { // the held pieces are withheld with the held events
				if p.index == c.index {
					s.mw.withhold(p.args)
					s.mw.withhold(p.input)
				}
			}
			s.cutWith(&res[0], nil)
			return ErrContentFiltered
		}
	}
	return nil
}

// joinNonEmpty joins a and b with a newline, leaving out an empty one.
func joinNonEmpty(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	}
	return a + "\n" + b
}

// call returns the call of st with the given index, adding it.
func (st *modStreamChoice) call(index int) *modCall {
	for i := range st.calls {
		if st.calls[i].index == index {
			return &st.calls[i]
		}
	}
	st.calls = append(st.calls, modCall{index: index})
	return &st.calls[len(st.calls)-1]
}

// patch returns data with each choice's content replaced by its release.
func (s *modStream) patch(data []byte) []byte {
	sp := s.sp[:0]
	key := `"content":`
	if !s.chat {
		key = `"text":`
	}
	for k := range s.chunk.choices {
		cc := &s.chunk.choices[k]
		inserted := false
		var ins []byte // the members to insert, each after a comma
		switch {
		case cc.end > 0:
			sp = append(sp, modSplice{cc.start, cc.end, wire.AppendString(nil, cc.release)})
		case cc.release != "":
			ins = wire.AppendString(append(append(ins, ','), key...), cc.release)
			inserted = true
		}
		if s.chat {
			rs := &cc.rspans
			switch {
			case rs[0][1] > 0 || rs[1][1] > 0:
				for _, r := range rs {
					if r[1] > 0 {
						sp = append(sp, modSplice{r[0], r[1], wire.AppendString(nil, cc.rrelease)})
					}
				}
			case cc.rrelease != "":
				// Into the names the upstream used: over a null one
				// (DeepSeek sends "reasoning_content":null beside the
				// content), else inserted.
				names := s.choices[cc.index].rnames
				if names == 0 {
					names = modReasoningContentBit
				}
				var missing uint8
				for slot, bit := range [2]uint8{modReasoningContentBit, modReasoningBit} {
					switch r := cc.rnull[slot]; {
					case names&bit == 0:
					case r[1] > 0:
						sp = append(sp, modSplice{r[0], r[1], wire.AppendString(nil, cc.rrelease)})
					default:
						missing |= bit
					}
				}
				if missing != 0 {
					ins = s.appendReasoning(ins, missing, cc.rrelease)
				}
			}
		}
		if len(ins) > 0 {
			sp = append(sp, s.insertSplice(cc, ins))
		}
		if cc.lp != 0 && s.chunkLP[cc.lp-1].changed {
			sp = s.logprobSplice(sp, cc, s.choices[cc.index].lpMask, inserted && !s.chat)
		}
	}
	if len(sp) > 1 {
		// A choice's members come in any order; inserts at the same place
		// keep theirs.
		slices.SortStableFunc(sp, func(a, b modSplice) int { return a.start - b.start })
	}
	s.sp = sp
	return applySplices(data, sp)
}

// appendReasoning appends the reasoning members named in names, each
// after a comma, with the value text.
func (s *modStream) appendReasoning(b []byte, names uint8, text string) []byte {
	if names&modReasoningContentBit != 0 || names == 0 {
		b = wire.AppendString(append(b, `,"reasoning_content":`...), text)
	}
	if names&modReasoningBit != 0 {
		b = wire.AppendString(append(b, `,"reasoning":`...), text)
	}
	return b
}

// insertSplice returns the splice that inserts members (each after a
// comma) into cc's delta, or, when it has none, a delta holding them into
// the choice; for a completion, into the choice.
func (s *modStream) insertSplice(cc *modChunkChoice, members []byte) modSplice {
	switch {
	case !s.chat || cc.hasDelta:
		if !cc.insertComma {
			members = members[1:]
		}
		return modSplice{cc.insert, cc.insert, members}
	}
	if d := cc.delta; d[1] > 0 { // "delta":null
		return modSplice{d[0], d[1], append(append([]byte{'{'}, members[1:]...), '}')}
	}
	v := []byte(`,"delta":{`)
	if !cc.choiceComma {
		v = v[1:]
	}
	v = append(append(v, members[1:]...), '}')
	return modSplice{cc.choiceEnd, cc.choiceEnd, v}
}

// closeAll ends every unfinished choice: what its filter still holds is
// judged as the end of the text and sent in one chunk, or the stream is cut.
func (s *modStream) closeAll() {
	ctx := s.mw.r.Context()
	for _, st := range s.choices { // the calls still open are complete now
		if st == nil {
			continue
		}
		st.callOpen = false
		if s.judgeCallsBut(st, modNoCall, nil) != nil {
			return
		}
	}
	s.flushHeld()
	var out []byte
	for i, st := range s.choices {
		if st == nil {
			continue
		}
		// Reasoning after a finish_reason (out of order, but sent) is
		// released too.
		open := !st.finished && (st.f.Pending() > 0 || len(st.held) > 0)
		if !open && st.rpending == "" {
			continue
		}
		var rrelease string
		if st.rpending != "" {
			d, err := st.rf.Close(ctx)
			if d.Cut || err != nil {
				s.cutWith(&d.Result, err)
				return
			}
			rrelease, st.rpending = d.Release, ""
		}
		var d moderation.Decision
		if open {
			var err error
			if d, err = st.f.Close(ctx); d.Cut || err != nil {
				s.cutWith(&d.Result, err)
				return
			}
		}
		st.finished = true
		st.pending = ""
		held := st.held
		st.held = nil
		if d.Release == "" && rrelease == "" && len(held) == 0 {
			continue
		}
		if out == nil {
			out = s.appendHead(nil)
		} else {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		if s.chat {
			var members []byte // each after a comma
			if rrelease != "" {
				members = s.appendReasoning(members, st.rnames, rrelease)
			}
			if d.Release != "" || rrelease == "" {
				members = wire.AppendString(append(members, `,"content":`...), d.Release)
			}
			out = append(append(append(out, `,"delta":{`...), members[1:]...), '}')
		} else {
			out = wire.AppendString(append(out, `,"text":`...), d.Release)
		}
		if len(held) > 0 {
			out = s.appendLogprobs(append(out, `,"logprobs":`...), held, st.lpMask)
		}
		out = append(out, `,"finish_reason":null}`...)
	}
	if out != nil {
		s.send(s.sw.WriteData(append(out, "]}"...)))
	}
}

// appendHead appends the start of a chunk the filter writes itself, up to
// and including the opening bracket of choices.
func (s *modStream) appendHead(b []byte) []byte {
	b = wire.AppendString(append(b, `{"id":`...), s.id)
	b = wire.AppendString(append(b, `,"object":`...), s.object)
	b = append(append(b, `,"created":`...), s.created...)
	b = wire.AppendString(append(b, `,"model":`...), s.model)
	return append(b, `,"choices":[`...)
}

// cutWith ends the stream: every unfinished choice ends with
// finish_reason "content_filter" in one final chunk that also carries the
// error envelope, then [DONE]. res is the verdict (nil or zero when the
// moderator failed with err).
func (s *modStream) cutWith(res *wire.ModerationResult, err error) {
	s.cut = true
	for _, t := range s.heldText { // never sent: they hold a call not judged
		s.mw.withhold(t)
	}
	s.heldEvents, s.heldBytes, s.heldText = nil, 0, nil
	for _, st := range s.choices {
		if st != nil {
			s.mw.withhold(st.pending)
			s.mw.withhold(st.rpending)
			st.pending, st.rpending = "", ""
			st.held = nil // never sent: they spell out the withheld text
		}
	}
	var e *wire.Error
	if err != nil || res == nil || !res.Flagged {
		e = moderationUnavailable(s.mw.c)
		e.Message = "The response was stopped because the content filter could not check it. Request ID: " + s.mw.c.RequestID + "."
	} else {
		s.mw.flagged(*res)
		e = wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeContentPolicyViolation, "",
			"The response was stopped by the content filter. Flagged categories: %s.",
			strings.Join(moderation.FlaggedCategories(*res), ", "))
	}
	out := s.appendHead(nil)
	n := 0
	for i, st := range s.choices {
		if st == nil || st.finished && !st.finishHeld {
			continue
		}
		out = s.appendCutChoice(out, i, n)
		n++
	}
	if len(s.choices) == 0 {
		out = s.appendCutChoice(out, 0, 0)
	}
	envelope, _ := json.Marshal(e)
	out = append(append(append(out, `],"error":`...), envelope...), '}')
	s.send(s.sw.WriteData(out))
	s.send(s.sw.WriteDone())
	s.done = true
}

func (s *modStream) appendCutChoice(b []byte, index, n int) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	b = strconv.AppendInt(append(b, `{"index":`...), int64(index), 10)
	if s.chat {
		return append(b, `,"delta":{},"finish_reason":"content_filter"}`...)
	}
	return append(b, `,"text":"","finish_reason":"content_filter"}`...)
}

// errModChunk marks data that is not a JSON object.
var errModChunk = errors.New("middleware: moderate: stream event is not a JSON object")

// errModDuplicate marks a choice with a member the filter reads (index,
// delta, text, content, logprobs) twice: clients disagree on which one
// counts (the first or the last), so the filter does not guess.
var errModDuplicate = errors.New("middleware: moderate: a choice has a member twice")

// errModContent marks content (or text) that is neither a string nor
// null: the filter cannot judge it, and some client may show it.
var errModContent = errors.New("middleware: moderate: content is neither a string nor null")

// errModMixed marks content sent as an array of parts after text in
// strings that the filter still holds back: there is nowhere to release it.
var errModMixed = errors.New("middleware: moderate: content turned into an array while text was held back")

// errModCaseTwin marks a member whose name differs only in case from one
// the filter reads ("Content" beside "content"): clients built on
// encoding/json read it as that member, so the filter does not pass it.
var errModCaseTwin = errors.New("middleware: moderate: a member differs only in case from one the filter reads")

// errModCallReopened marks a piece of a tool call that was judged
// complete, and sent, already.
var errModCallReopened = errors.New("middleware: moderate: a tool call went on after it was judged complete")

// errModCallTooLarge marks a tool call whose chunks, held until it is
// judged, outgrew MaxBufferedBody.
var errModCallTooLarge = errors.New("middleware: moderate: a tool call is larger than the filter holds (MaxBufferedBody)")

// errModIndex marks a choice or tool call index that is not an integer
// literal.
var errModIndex = errors.New("middleware: moderate: a choice or tool call index is not an integer, or is negative")

// parseChunk reads data into s.chunk, remembering the chunk's identity.
func (s *modStream) parseChunk(data []byte) error {
	ch := &s.chunk
	ch.choices, ch.keep, ch.err = ch.choices[:0], false, false
	s.lpIn, s.chunkLP = s.lpIn[:0], s.chunkLP[:0]
	d := newScanner(data)
	if d.peek() != '{' {
		return errModChunk
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "id", "object", "model":
			if d.peek() != '"' {
				err = d.skip()
				break
			}
			var v string
			if v, err = d.str(); err == nil {
				switch key {
				case "id":
					s.id = v
				case "object":
					s.object = v
				default:
					s.model = v
				}
			}
		case "created":
			if c := d.peek(); c == '-' || (c >= '0' && c <= '9') {
				s.created, err = d.num()
			} else {
				err = d.skip()
			}
		case "choices":
			err = s.parseChoices(&d)
		case "error":
			ch.err = ch.err || d.peek() != 'n'
			err = d.skip()
		case "usage":
			ch.keep = ch.keep || d.peek() != 'n'
			err = d.skip()
		default: // per-chunk metadata (system_fingerprint, obfuscation, …)
			if hasCaseTwin(key, "choices") {
				return errModCaseTwin
			}
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	return d.end()
}

func (s *modStream) parseChoices(d *scanner) error {
	if d.peek() != '[' {
		return d.skip()
	}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil || !more {
			return err
		}
		if d.peek() != '{' {
			if err := d.skip(); err != nil {
				return err
			}
			continue
		}
		var cc modChunkChoice
		members := 0
		var seen uint8 // the members read below, to refuse duplicates
		for m := 0; ; m++ {
			key, more, err := d.obj(m)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			members++
			if bit := modChoiceMember(key, s.chat); bit != 0 {
				if seen&bit != 0 {
					return errModDuplicate
				}
				seen |= bit
			}
			switch {
			case key == "index":
				cc.index, err = modIndex(d)
			case s.chat && key == "delta":
				err = s.parseDelta(d, &cc)
			case !s.chat && key == "text":
				err = modContent(d, &cc, false)
			case key == "logprobs":
				err = s.parseLogprobs(d, &cc)
			case hasCaseTwin(key, "index", "delta", "text", "logprobs", "finish_reason"):
				return errModCaseTwin
			default: // finish_reason, anything else: kept when set
				if d.peek() != 'n' {
					cc.keep = true
					cc.finish = cc.finish || key == "finish_reason"
				}
				err = d.skip()
			}
			if err != nil {
				return err
			}
		}
		cc.choiceEnd, cc.choiceComma = d.i-1, members > 0
		if !s.chat {
			cc.insert, cc.insertComma = cc.choiceEnd, cc.choiceComma
		}
		s.chunk.choices = append(s.chunk.choices, cc)
	}
}

// modChoiceMember is the bit of a choice member parseChoices reads, 0 for
// the others.
func modChoiceMember(key string, chat bool) uint8 {
	switch {
	case key == "index":
		return 1
	case key == "logprobs":
		return 2
	case chat && key == "delta", !chat && key == "text":
		return 4
	}
	return 0
}

// parseDelta reads a chat delta: its content, and whether it carries
// anything else (role, tool calls, refusal, reasoning, …).
func (s *modStream) parseDelta(d *scanner, cc *modChunkChoice) error {
	if d.peek() != '{' {
		d.ws()
		start := d.i
		err := d.skip()
		cc.delta = [2]int{start, d.i} // null, say: replaced if text goes in
		return err
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
		switch bit := modMessageText(key); {
		case bit == modContentBit:
			err = modContent(d, cc, true)
		case bit == modRefusalBit:
			err = modRefusal(d, cc)
		case bit != 0:
			err = s.parseReasoning(d, cc, bit)
		case key == "tool_calls" || key == "function_call":
			if cc.hasCalls {
				return errModDuplicate // one or the other, once
			}
			cc.hasCalls = true
			cc.keep = cc.keep || d.peek() != 'n'
			err = modCalls(d, key == "tool_calls", func(index int, args, input string) {
				cc.calls = append(cc.calls, modCallArgs{index, args, input})
			})
		case hasCaseTwin(key, "content", "reasoning_content", "reasoning", "refusal", "tool_calls", "function_call"):
			return errModCaseTwin
		default:
			cc.keep = cc.keep || d.peek() != 'n'
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	cc.insert, cc.insertComma, cc.hasDelta = d.i-1, members > 0, true
	if r := &cc.rspans; r[0][1] > 0 && r[1][1] > 0 && cc.rtexts[0] != cc.rtexts[1] {
		// Clients read one or the other: both must say the same.
		return errModContent
	}
	return nil
}

// reasoningNames returns the modMessageText bits of the reasoning members
// of cc that are strings.
func (cc *modChunkChoice) reasoningNames() uint8 {
	var b uint8
	if cc.rspans[0][1] > 0 {
		b |= modReasoningContentBit
	}
	if cc.rspans[1][1] > 0 {
		b |= modReasoningBit
	}
	return b
}

// parseReasoning reads a reasoning member of a delta (bit its
// modMessageText): a string, or null.
func (s *modStream) parseReasoning(d *scanner, cc *modChunkChoice, bit uint8) error {
	slot := 0
	if bit == modReasoningBit {
		slot = 1
	}
	if cc.rseen&bit != 0 {
		return errModDuplicate
	}
	cc.rseen |= bit
	d.ws()
	start := d.i
	switch d.peek() {
	case 'n':
		err := d.skip()
		cc.rnull[slot] = [2]int{start, d.i}
		return err
	case '"':
	default:
		return errModContent
	}
	v, err := d.str()
	if err != nil {
		return err
	}
	cc.rtexts[slot], cc.reasoning, cc.rspans[slot] = v, v, [2]int{start, d.i}
	return nil
}

// modIndex reads a choice's or a tool call's index: an integer literal.
func modIndex(d *scanner) (int, error) {
	// d.peek, not d.num at once: whitespace may come first.
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, errModIndex
	}
	num, err := d.num()
	if err != nil {
		return 0, err
	}
	i, err := strconv.Atoi(num)
	if err != nil {
		return 0, errModIndex
	}
	return i, nil
}

// Call indices that are not a tool call's.
const (
	modFunctionCall = -1 // the legacy function_call
	modNoCall       = -2 // none
)

// modCalls reads a message's or a delta's tool_calls (list set: an array
// of calls, each with its index and a function or a custom tool call) or
// legacy function_call (one function, index modFunctionCall), and calls
// add with each call's index, arguments and input: a string, or any other
// value as its JSON text; "" for a call without any (yet). A custom tool
// call's input ({"custom":{"name":…,"input":…}}, streamed in pieces as
// arguments are) is given apart from the arguments: a call that has both
// a function and a custom member gives both. What clients built on
// encoding/json would read otherwise, or refuse, is refused: a member
// twice, a case twin of index, function, custom, arguments or input, a
// negative index, calls that are not an array of objects, a function or
// custom call that is not an object.
func modCalls(d *scanner, list bool, add func(index int, args, input string)) error {
	switch c := d.peek(); {
	case c == 'n':
		return d.skip()
	case !list && c == '{':
		args, err := modFunction(d, "arguments")
		if err == nil {
			add(modFunctionCall, args, "")
		}
		return err
	case !list || c != '[':
		return errModContent
	}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil || !more {
			return err
		}
		if d.peek() != '{' {
			return errModContent
		}
		index, args, input := 0, "", "" // the function may come before the index
		var seen uint8
		for m := 0; ; m++ {
			key, more, err := d.obj(m)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			switch {
			case key == "index" && seen&1 != 0, key == "function" && seen&2 != 0, key == "custom" && seen&4 != 0:
				return errModDuplicate
			case key == "index":
				seen |= 1
				if index, err = modIndex(d); err == nil && index < 0 {
					err = errModIndex
				}
			case key == "function":
				seen |= 2
				args, err = modFunction(d, "arguments")
			case key == "custom":
				seen |= 4
				input, err = modFunction(d, "input")
			case hasCaseTwin(key, "index", "function", "custom"):
				return errModCaseTwin
			default:
				err = d.skip()
			}
			if err != nil {
				return err
			}
		}
		add(index, args, input)
	}
}

// modFunction reads the function of a tool call, or a legacy
// function_call, or the custom member of a custom tool call (null, or an
// object), and returns the value of its member named arg: "arguments", or
// a custom call's "input" (see modCalls).
func modFunction(d *scanner, arg string) (string, error) {
	switch d.peek() {
	case 'n':
		return "", d.skip()
	case '{':
	default:
		return "", errModContent
	}
	var args string
	seen := false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return args, err
		}
		switch {
		case key == arg && seen:
			return "", errModDuplicate
		case key == arg:
			seen = true
			d.ws()
			start := d.i
			if d.peek() == '"' {
				args, err = d.str()
			} else if err = d.skip(); err == nil && string(d.b[start:d.i]) != "null" {
				args = string(d.b[start:d.i])
			}
		case hasCaseTwin(key, arg):
			return "", errModCaseTwin
		default:
			err = d.skip()
		}
		if err != nil {
			return "", err
		}
	}
}

// modRefusal reads a delta's refusal: a string, judged whole with the
// parts (see judgeParts), or null.
func modRefusal(d *scanner, cc *modChunkChoice) error {
	if cc.hasRefusal {
		return errModDuplicate
	}
	cc.hasRefusal = true
	switch d.peek() {
	case 'n':
		return d.skip()
	case '"':
		v, err := d.str()
		cc.parts += v
		return err
	}
	return errModContent
}

// modContent reads a content (or text) value: a string, null or, when
// parts is set (a chat delta), an array of parts, whose text goes to
// cc.parts.
func modContent(d *scanner, cc *modChunkChoice, parts bool) error {
	if cc.end > 0 || cc.hasParts {
		return errModDuplicate
	}
	d.ws()
	cc.start = d.i
	if parts && d.peek() == '[' {
		b, err := modPartsText(d, nil)
		cc.parts, cc.hasParts = cc.parts+string(b), true
		return err
	}
	if d.peek() != '"' {
		if d.peek() != 'n' {
			return errModContent
		}
		if err := d.skip(); err != nil {
			return err
		}
		cc.end = d.i
		return nil
	}
	v, err := d.str()
	cc.content, cc.end = v, d.i
	return err
}
