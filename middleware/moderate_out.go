package middleware

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/wire"
)

// modWriter modes.
const (
	modeUndecided = iota
	modePass      // not moderated: an error, or a body that is neither JSON nor SSE
	modeBuffer    // a JSON body, held whole until the handler returns
	modeStream    // an SSE stream, filtered event by event
)

// modWriter is the ResponseWriter the handler writes to when output
// moderation is on. It sits between the handler and the response tap: the
// tap and the client see only what it lets through.
//
// Like any ResponseWriter it is not safe for concurrent use.
type modWriter struct {
	m      *Moderate
	w      http.ResponseWriter
	r      *http.Request
	c      *Call
	mode   int
	status int
	buf    []byte
	over   bool // the buffered body outgrew MaxBufferedBody
	stream *modStream
	// withheld counts the completion tokens generated but not sent.
	withheld int
}

func newModWriter(m *Moderate, w http.ResponseWriter, r *http.Request, c *Call) *modWriter {
	return &modWriter{m: m, w: w, r: r, c: c}
}

// Header returns the underlying header map: headers the handler sets are
// sent (or, for a buffered body, sent when it is released).
func (mw *modWriter) Header() http.Header { return mw.w.Header() }

// WriteHeader picks the mode from the status, the Content-Type and the
// request: a 2xx SSE stream is filtered as it flows, and so is any other
// 2xx body but JSON when the request asked for a stream (openai-go reads
// a stream whatever its Content-Type); other 2xx bodies are buffered and
// must be a JSON object; everything else passes through. The filter
// fails closed: a body it cannot read as what the client will read it as
// does not reach the client.
func (mw *modWriter) WriteHeader(code int) {
	if mw.mode != modeUndecided {
		if mw.mode != modeBuffer {
			mw.w.WriteHeader(code)
		}
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		mw.w.WriteHeader(code)
		return
	}
	h := mw.w.Header()
	ct := h.Get("Content-Type")
	switch {
	case code < 200 || code > 299:
		mw.mode = modePass
	case isEventStream(ct) || mw.streamed() && !isJSONType(ct):
		mw.mode = modeStream
		h.Del("Content-Length") // the filter changes the length
		mw.stream = newModStream(mw)
	default:
		mw.mode, mw.status = modeBuffer, code
		return
	}
	mw.w.WriteHeader(code)
}

// streamed reports whether the request asked for a stream.
func (mw *modWriter) streamed() bool {
	if c := mw.c; c.Chat != nil {
		return c.Chat.Stream
	} else if c.Completion != nil {
		return c.Completion.Stream
	}
	return false
}

// Write buffers, filters or passes b on, depending on the mode.
func (mw *modWriter) Write(b []byte) (int, error) {
	if mw.mode == modeUndecided {
		mw.WriteHeader(http.StatusOK)
	}
	switch mw.mode {
	case modeBuffer:
		if mw.over {
			return 0, ErrContentFiltered
		}
		if len(mw.buf)+len(b) > mw.m.cfg.MaxBufferedBody {
			mw.over, mw.buf = true, nil
			return 0, ErrContentFiltered
		}
		mw.buf = append(mw.buf, b...)
		return len(b), nil
	case modeStream:
		return mw.stream.write(b)
	}
	return mw.w.Write(b)
}

// Flush flushes the client; see FlushError.
func (mw *modWriter) Flush() { _ = mw.FlushError() }

// FlushError flushes what was released to the client. A buffered body is
// not flushed (it is sent whole once moderated).
func (mw *modWriter) FlushError() error {
	switch mw.mode {
	case modeBuffer:
		return nil
	case modeUndecided:
		mw.WriteHeader(http.StatusOK)
		if mw.mode == modeBuffer {
			return nil
		}
	}
	err := http.NewResponseController(mw.w).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// Unwrap returns the underlying ResponseWriter, for
// http.NewResponseController.
func (mw *modWriter) Unwrap() http.ResponseWriter { return mw.w }

// finish sends what the handler left: the moderated buffered body, or the
// end of a stream's held-back text.
func (mw *modWriter) finish() {
	switch mw.mode {
	case modeBuffer:
		mw.finishBody()
	case modeStream:
		mw.stream.end()
	}
}

// withhold records text that was generated but not sent, for billing.
func (mw *modWriter) withhold(text string) {
	if text != "" && mw.c.Encoding != nil {
		mw.withheld += mw.c.Encoding.Count(text)
	}
}

// settle is the OnEnd observer: withheld tokens are billed too when the
// usage was counted from what the tap saw (a reported usage covers them).
func (mw *modWriter) settle(*Response) {
	c := mw.c
	if mw.withheld == 0 || !c.UsageCounted || c.Usage == nil {
		return
	}
	u := *c.Usage
	u.CompletionTokens += mw.withheld
	u.TotalTokens += mw.withheld
	c.Usage = &u
}

// flagged tells the OnOutputFlagged hook.
func (mw *modWriter) flagged(res wire.ModerationResult) {
	if f := mw.m.cfg.OnOutputFlagged; f != nil {
		f(mw.r, res)
	}
}

// finishBody moderates the buffered body's choices and sends it.
func (mw *modWriter) finishBody() {
	c := mw.c
	if mw.over {
		mw.writeError(wire.Errorf(http.StatusBadGateway, wire.TypeServer, wire.CodeUpstreamError, "",
			"The upstream response was larger than the content filter can check (%d bytes); it was not sent. Request ID: %s.",
			mw.m.cfg.MaxBufferedBody, c.RequestID))
		return
	}
	body := mw.buf
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		mw.send(body) // no text to check
		return
	}
	choices, err := bodyChoices(body, c.Chat != nil) // refuses what is not a JSON object
	if err != nil {
		mw.writeError(wire.Errorf(http.StatusBadGateway, wire.TypeServer, wire.CodeUpstreamError, "",
			"The upstream response could not be read by the content filter. Request ID: %s.", c.RequestID))
		return
	}
	var inputs []moderation.Input
	var which []int
	for i, ch := range choices {
		if t := ch.joined(); t != "" {
			inputs = append(inputs, moderation.Input{Text: t})
			which = append(which, i)
		}
	}
	res, err := moderateEach(mw.r.Context(), mw.m.cfg.Moderator, inputs)
	if err != nil {
		mw.writeError(moderationUnavailable(c))
		return
	}
	var sp []modSplice
	withheld := []byte("null")
	if c.Chat == nil {
		withheld = []byte(`""`)
	}
	for k, i := range which {
		if !res[k].Flagged {
			continue
		}
		ch := &choices[i]
		mw.flagged(res[k])
		for _, t := range ch.texts {
			mw.withhold(t)
		}
		for _, a := range ch.args { // counted as sent, escapes and all
			mw.withhold(a)
		}
		for _, v := range ch.values {
			sp = append(sp, modSplice{v.start, v.end, withheld})
		}
		if ch.finEnd > 0 {
			sp = append(sp, modSplice{ch.finStart, ch.finEnd, []byte(`"content_filter"`)})
		}
		if ch.lpEnd > 0 { // the tokens spell out the withheld text
			sp = append(sp, modSplice{ch.lpStart, ch.lpEnd, []byte("null")})
		}
	}
	if len(sp) > 0 {
		slices.SortFunc(sp, func(a, b modSplice) int { return a.start - b.start })
		body = applySplices(body, sp)
	}
	mw.send(body)
}

// send writes a buffered body with its status and length.
func (mw *modWriter) send(body []byte) {
	h := mw.w.Header()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	mw.w.WriteHeader(mw.status)
	_, _ = mw.w.Write(body)
}

// writeError replaces a buffered response with an error envelope; headers
// the handler set for its own body are dropped.
func (mw *modWriter) writeError(e *wire.Error) {
	h := mw.w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	wire.WriteError(mw.w, e)
}

// bodyChoice locates the text of one choice of a non-streamed response
// body: a completion's text or, in a chat completion, the message's
// content (a string, or an array of parts), its refusal, its reasoning
// (reasoning_content, reasoning) and the arguments of its tool calls
// (tool_calls, or the legacy function_call). A flagged choice has every
// one of those values withheld, its tool calls whole.
type bodyChoice struct {
	texts            []string   // the texts to judge, in order
	args             []string   // the arguments of its calls, as sent
	values           []bodySpan // the values they come from
	finStart, finEnd int        // finish_reason's value; finEnd 0 when absent
	lpStart, lpEnd   int        // logprobs' value; lpEnd 0 when absent
	seen             uint8      // modMessageText bits of the members read
}

// bodySpan is where a value is in the body.
type bodySpan struct{ start, end int }

// joined returns the choice's texts, and its calls' arguments as the
// tool reads them (see modArgsText), as one, for a single verdict.
func (ch *bodyChoice) joined() string {
	all := ch.texts
	if len(ch.args) > 0 {
		all = slices.Clone(all)
		for _, a := range ch.args {
			all = append(all, modArgsText(a))
		}
	}
	if len(all) == 1 {
		return all[0]
	}
	return strings.Join(all, "\n")
}

// The members of a chat message whose text is judged: the content, the
// refusal (which clients show in its place), and the reasoning a model
// shows — reasoning_content is vLLM's (before 0.19.1), llama.cpp's and
// DeepSeek's name for it, reasoning the name newer vLLM and Ollama use.
const (
	modContentBit = 1 << iota
	modReasoningContentBit
	modReasoningBit
	modRefusalBit
)

// The members of a chat message whose calls' arguments are judged; they
// are not modMessageText's, as a stream's tool calls are judged apart.
const (
	modToolCallsBit = modRefusalBit << (iota + 1)
	modFunctionCallBit
)

// modMessageText returns the bit of a message member whose text is
// judged, 0 for the others.
func modMessageText(key string) uint8 {
	switch key {
	case "content":
		return modContentBit
	case "reasoning_content":
		return modReasoningContentBit
	case "reasoning":
		return modReasoningBit
	case "refusal":
		return modRefusalBit
	}
	return 0
}

// modPartsText appends the text of a content array (or of any value in
// it) to b: every string in it but the values of "type" members, so that
// whatever part a client shows — {"type":"text","text":…}, Mistral's
// {"type":"thinking","thinking":[…]}, a refusal — is judged. They are
// joined with nothing, as clients join the parts they show.
func modPartsText(d *scanner, b []byte) ([]byte, error) {
	switch d.peek() {
	case '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return append(b, s...), nil
	case '[':
		for n := 0; ; n++ {
			more, err := d.arr(n)
			if err != nil || !more {
				return b, err
			}
			if b, err = modPartsText(d, b); err != nil {
				return nil, err
			}
		}
	case '{':
		for n := 0; ; n++ {
			key, more, err := d.obj(n)
			if err != nil || !more {
				return b, err
			}
			if key == "type" {
				err = d.skip()
			} else {
				b, err = modPartsText(d, b)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return b, d.skip()
}

// modArgsText returns the text of a tool call's arguments to judge: the
// arguments with every JSON escape decoded ("\u006b" as k, "\"" as a
// quote), again and again while that changes something (arguments that
// are a JSON string of JSON text), but not as JSON: a tool may read
// arguments that are not valid JSON (cut short by max_tokens, or with NaN,
// as Python's json.loads takes), and its text is judged all the same.
// Decoding too much only makes the filter stricter.
func modArgsText(args string) string {
	for range 4 {
		dec, changed := modUnescape(args)
		if !changed {
			break
		}
		args = dec
	}
	return args
}

// modUnescape decodes the JSON escapes in s, wherever they are, as
// encoding/json decodes them (see jsonscan.Unescape), and reports whether
// there were any. A backslash that starts no escape stays.
func modUnescape(s string) (string, bool) {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s, false
	}
	b := make([]byte, 0, len(s))
	changed := false
	for ; i >= 0; i = strings.IndexByte(s, '\\') {
		b = append(b, s[:i]...)
		s = s[i:]
		r, n, ok := jsonscan.Unescape([]byte(s[:min(len(s), 12)]))
		if !ok {
			b = append(b, '\\')
			s = s[1:]
			continue
		}
		b = utf8.AppendRune(b, r)
		s = s[n:]
		changed = true
	}
	return string(append(b, s...)), changed
}

// bodyChoices finds the choices of a chat completion or a completion, and
// the texts each one holds (see bodyChoice).
func bodyChoices(body []byte, chat bool) ([]bodyChoice, error) {
	d := newScanner(body)
	var out []bodyChoice
	// value reads a text value: a string, null or, for a message's
	// content, an array of parts.
	value := func(ch *bodyChoice, bit uint8) error {
		if ch.seen&bit != 0 {
			// Clients disagree on which of two contents counts.
			return errModDuplicate
		}
		ch.seen |= bit
		d.ws()
		start := d.i
		var text string
		switch d.peek() {
		case 'n':
			return d.skip()
		case '"':
			s, err := d.str()
			if err != nil {
				return err
			}
			text = s
		case '[':
			if bit != modContentBit {
				return errModContent
			}
			b, err := modPartsText(&d, nil)
			if err != nil {
				return err
			}
			text = string(b)
		default:
			return errModContent
		}
		ch.texts = append(ch.texts, text)
		ch.values = append(ch.values, bodySpan{start, d.i})
		return nil
	}
	// calls reads a message's tool_calls (bit modToolCallsBit) or
	// function_call (see modCalls): the arguments are judged as the tool
	// reads them (see modArgsText), and the member is withheld whole, as
	// null, when the choice is flagged.
	calls := func(ch *bodyChoice, bit uint8) error {
		if ch.seen&bit != 0 {
			return errModDuplicate
		}
		ch.seen |= bit
		d.ws()
		start, c := d.i, d.peek()
		err := modCalls(&d, bit == modToolCallsBit, func(_ int, args, input string) {
			for _, a := range [2]string{args, input} {
				if a != "" {
					ch.args = append(ch.args, a)
				}
			}
		})
		if err == nil && c != 'n' {
			ch.values = append(ch.values, bodySpan{start, d.i})
		}
		return err
	}
	choice := func() error {
		var ch bodyChoice
		if d.peek() != '{' {
			return d.skip()
		}
		for n := 0; ; n++ {
			key, more, err := d.obj(n)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			switch {
			case key == "finish_reason":
				d.ws()
				ch.finStart = d.i
				if err := d.skip(); err != nil {
					return err
				}
				ch.finEnd = d.i
			case key == "logprobs":
				d.ws()
				ch.lpStart = d.i
				if err := d.skip(); err != nil {
					return err
				}
				ch.lpEnd = d.i
			case !chat && key == "text":
				err = value(&ch, modContentBit)
			case chat && key == "message" && d.peek() == '{':
				for m := 0; ; m++ {
					k, more, err := d.obj(m)
					if err != nil {
						return err
					}
					if !more {
						break
					}
					switch bit := modMessageText(k); {
					case bit != 0:
						err = value(&ch, bit)
					case k == "tool_calls":
						err = calls(&ch, modToolCallsBit)
					case k == "function_call":
						err = calls(&ch, modFunctionCallBit)
					case hasCaseTwin(k, "content", "reasoning_content", "reasoning", "refusal", "tool_calls", "function_call"):
						err = errModCaseTwin
					default:
						err = d.skip()
					}
					if err != nil {
						return err
					}
				}
			case hasCaseTwin(key, "finish_reason", "logprobs", "text", "message"):
				err = errModCaseTwin
			default:
				err = d.skip()
			}
			if err != nil {
				return err
			}
		}
		if len(ch.values) > 0 {
			out = append(out, ch)
		}
		return nil
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		if hasCaseTwin(key, "choices") {
			return nil, errModCaseTwin
		}
		if key != "choices" || d.peek() != '[' {
			if err := d.skip(); err != nil {
				return nil, err
			}
			continue
		}
		for m := 0; ; m++ {
			more, err := d.arr(m)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
			if err := choice(); err != nil {
				return nil, err
			}
		}
	}
	if err := d.end(); err != nil {
		return nil, err // more after the object: clients refuse it, and so does the filter
	}
	return out, nil
}
