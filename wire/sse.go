package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxEventSize bounds the data of one server-sent event when a
// Parser's or Reader's MaxEventSize is zero.
const DefaultMaxEventSize = 8 << 20

// ErrEventTooLarge is returned (wrapped) by Parser.Next and Reader.Next for
// an event whose data, or whose single unfinished line, grows past
// MaxEventSize. The rest of that event is skipped; the stream continues
// with the next one.
var ErrEventTooLarge = errors.New("wire: sse event larger than the limit")

// ErrInvalidField is returned (wrapped) by Writer.WriteEvent for an event
// type or id that would not read back: one holding CR or LF, or an id
// holding NUL.
var ErrInvalidField = errors.New("wire: sse field holds CR, LF or NUL")

// Event is one dispatched server-sent event.
//
// Comment lines (those starting with ':') are not events: the Parser and
// Reader skip them, as browsers do.
type Event struct {
	// Type is the event's "event:" field; "" stands for the default type,
	// "message".
	Type string
	// ID is the last event id seen in the stream when the event was
	// dispatched ("id:" persists across events, as the HTML standard says).
	ID string
	// Data is the event's "data:" lines joined with "\n". It is owned by
	// the Parser or Reader and valid until the next call to Next.
	Data []byte
}

// IsDone reports the "[DONE]" event that ends an OpenAI stream.
func (e *Event) IsDone() bool { return string(bytes.TrimSpace(e.Data)) == "[DONE]" }

var utf8BOM = [3]byte{0xEF, 0xBB, 0xBF}

// Parser is the push form of the SSE framing rules of the HTML standard
// (9.2.6 "Interpreting an event stream"): lines end with CRLF, LF or CR; a
// leading UTF-8 BOM is dropped; "data:" lines (one space after the colon
// removed) are joined with "\n"; "event:", "id:" (ignored when it holds
// NUL) and "retry:" (digits only) fields; comment lines and unknown fields
// are ignored; an event is dispatched at a blank line, and only when it has
// a data line. Bytes are not UTF-8 decoded: Data is what the stream held.
//
// Feed it byte slices split anywhere and call Next until it reports no
// event. The zero value is ready to use with DefaultMaxEventSize. A Parser
// is not safe for concurrent use.
type Parser struct {
	// MaxEventSize bounds the bytes held for one event: its data so far
	// plus the line being read. Default: DefaultMaxEventSize.
	MaxEventSize int

	in       []byte // borrowed input not yet scanned
	line     []byte // an unfinished line carried across Feeds
	data     []byte // data buffer of the event being read
	hasData  bool   // the event has at least one data line
	typ      string // event type buffer
	lastID   string
	retry    time.Duration
	retrySet bool
	skip     bool // discarding an oversized event up to its blank line
	skipLine bool // discarding the rest of an oversized line
	cr       bool // the last byte scanned was a CR: a following LF belongs to it
	bomN     int  // BOM bytes matched at the start of the stream
	bomDone  bool
}

// Feed gives the parser more of the stream. The parser borrows b until
// Next reports that no complete event is left, so call Next until then
// before changing b or feeding again. (Feeding earlier is allowed but
// copies the unread input.)
func (p *Parser) Feed(b []byte) {
	if len(p.in) > 0 {
		joined := make([]byte, 0, len(p.in)+len(b))
		p.in = append(append(joined, p.in...), b...)
		return
	}
	p.in = b
}

// Next returns the next complete event of the input fed so far. ok is false
// when the input holds no further complete event; feed more then. err is a
// wrapped ErrEventTooLarge when an event exceeded MaxEventSize; the parser
// skips that event and can be called again.
func (p *Parser) Next() (ev Event, ok bool, err error) {
	for {
		if !p.bomDone && !p.stripBOM() {
			return Event{}, false, nil
		}
		if len(p.in) == 0 {
			return Event{}, false, nil
		}
		if p.cr {
			p.cr = false
			if p.in[0] == '\n' {
				p.in = p.in[1:]
				continue
			}
		}
		end := bytes.IndexByte(p.in, '\n')
		seg := p.in
		if end >= 0 {
			seg = p.in[:end]
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			end = j
		}
		if end < 0 { // an unfinished line: keep it for the next Feed
			if err := p.carry(); err != nil {
				return Event{}, false, err
			}
			return Event{}, false, nil
		}
		line := p.in[:end]
		if p.in[end] == '\r' {
			switch {
			case end+1 == len(p.in):
				p.cr = true
			case p.in[end+1] == '\n':
				end++
			}
		}
		p.in = p.in[end+1:]
		if p.skipLine {
			p.skipLine = false
			continue
		}
		if !p.skip && len(p.line)+len(line)+p.dataLen() > p.max() {
			p.line = p.line[:0]
			return Event{}, false, p.tooLarge(false)
		}
		if len(p.line) > 0 {
			p.line = append(p.line, line...)
			line = p.line
		}
		ev, ok = p.process(line)
		p.line = p.line[:0]
		if ok {
			return ev, true, nil
		}
	}
}

// carry moves the unfinished line at the end of the input into p.line.
func (p *Parser) carry() error {
	in := p.in
	p.in = nil
	if p.skipLine {
		return nil
	}
	if p.skip { // the line is not blank, so it is skipped whatever it holds
		p.line = p.line[:0]
		p.skipLine = true
		return nil
	}
	if len(p.line)+len(in)+p.dataLen() > p.max() {
		p.line = p.line[:0]
		return p.tooLarge(true)
	}
	p.line = append(p.line, in...)
	return nil
}

// stripBOM consumes a UTF-8 BOM at the start of the stream. It reports
// false when the input ended inside a possible BOM.
func (p *Parser) stripBOM() bool {
	for p.bomN < len(utf8BOM) && len(p.in) > 0 {
		if p.in[0] != utf8BOM[p.bomN] { // not a BOM: the bytes start the first line
			p.line = append(p.line, utf8BOM[:p.bomN]...)
			p.bomDone = true
			return true
		}
		p.in = p.in[1:]
		p.bomN++
	}
	p.bomDone = p.bomN == len(utf8BOM)
	return p.bomDone
}

// dataLen is the length of the current event's data buffer.
func (p *Parser) dataLen() int {
	if p.hasData {
		return len(p.data)
	}
	return 0
}

func (p *Parser) max() int {
	if p.MaxEventSize > 0 {
		return p.MaxEventSize
	}
	return DefaultMaxEventSize
}

// tooLarge starts skipping the current event (and the rest of the current
// line when midLine) and returns the error that says so.
func (p *Parser) tooLarge(midLine bool) error {
	p.skip = true
	p.skipLine = midLine
	p.hasData = false
	p.data = p.data[:0]
	p.typ = ""
	return fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, p.max())
}

// process interprets one complete line and reports a dispatched event.
func (p *Parser) process(line []byte) (Event, bool) {
	if len(line) == 0 { // blank line: dispatch
		if p.skip {
			p.skip = false
			return Event{}, false
		}
		if !p.hasData {
			p.typ = ""
			return Event{}, false
		}
		ev := Event{Type: p.typ, ID: p.lastID, Data: p.data}
		p.hasData = false
		p.typ = ""
		return ev, true
	}
	if p.skip || line[0] == ':' {
		return Event{}, false
	}
	field, value := line, []byte(nil)
	if k := bytes.IndexByte(line, ':'); k >= 0 {
		field, value = line[:k], line[k+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		} else {
			p.data = p.data[:0]
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		if string(value) != p.typ {
			p.typ = string(value)
		}
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.lastID {
			p.lastID = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			p.retry, p.retrySet = ms, true
		}
	}
	return Event{}, false
}

// parseDigits parses a retry value: ASCII digits only, in milliseconds,
// saturating instead of overflowing.
func parseDigits(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxMS = int64(1<<63-1) / int64(time.Millisecond)
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= maxMS {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxMS {
		n = maxMS
	}
	return time.Duration(n) * time.Millisecond, true
}

// LastEventID returns the last "id:" value the stream set, or "".
func (p *Parser) LastEventID() string { return p.lastID }

// Retry returns the reconnection time the stream last set with "retry:",
// and whether it set one.
func (p *Parser) Retry() (time.Duration, bool) { return p.retry, p.retrySet }

// End tells the parser the stream ended. Per the standard an unfinished
// event is discarded; End then returns a wrapped io.ErrUnexpectedEOF (the
// stream was cut inside an event), else nil. The parser is then ready for
// the next stream (a reconnection): LastEventID and Retry are kept.
func (p *Parser) End() error {
	cut := p.hasData || len(p.line) > 0 || len(p.in) > 0 || p.skip || p.skipLine ||
		(!p.bomDone && p.bomN > 0)
	id, retry, retrySet := p.lastID, p.retry, p.retrySet
	p.Reset()
	p.lastID, p.retry, p.retrySet = id, retry, retrySet
	if cut {
		return fmt.Errorf("wire: sse stream ended inside an event: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// Reset readies the parser for a new stream, forgetting everything but
// MaxEventSize and its buffers.
func (p *Parser) Reset() {
	*p = Parser{MaxEventSize: p.MaxEventSize, line: p.line[:0], data: p.data[:0]}
}

// Reader reads server-sent events from an io.Reader, following the same
// rules as Parser (it is a Parser fed by reads). Events may be of any size
// up to MaxEventSize.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// MaxEventSize bounds the data of one event. Default:
	// DefaultMaxEventSize.
	MaxEventSize int

	r   io.Reader
	p   Parser
	buf []byte
	err error
}

// readBufSize is the Reader's read size; longer lines are carried across
// reads.
const readBufSize = 16 << 10

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next returns the next event. At the end of the stream it returns io.EOF,
// or a wrapped io.ErrUnexpectedEOF when the stream ended inside an event
// (which is discarded). A wrapped ErrEventTooLarge skips one event and
// Next may be called again; read errors are wrapped and returned again by
// every later call. Event.Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	r.p.MaxEventSize = r.MaxEventSize
	for empty := 0; ; {
		ev, ok, err := r.p.Next()
		if err != nil {
			return Event{}, err
		}
		if ok {
			return ev, nil
		}
		if r.err != nil {
			if r.err == io.EOF {
				if err := r.p.End(); err != nil {
					return Event{}, err
				}
			}
			return Event{}, r.err
		}
		if r.buf == nil {
			r.buf = make([]byte, readBufSize)
		}
		n, err := r.r.Read(r.buf)
		r.p.Feed(r.buf[:n])
		switch {
		case err == io.EOF:
			r.err = io.EOF
		case err != nil:
			r.err = fmt.Errorf("wire: sse read: %w", err)
		case n == 0:
			if empty++; empty >= 100 {
				r.err = fmt.Errorf("wire: sse read: %w", io.ErrNoProgress)
			}
		default:
			empty = 0
		}
	}
}

// LastEventID returns the last "id:" value the stream set, or "".
func (r *Reader) LastEventID() string { return r.p.LastEventID() }

// Retry returns the reconnection time the stream last set with "retry:",
// and whether it set one.
func (r *Reader) Retry() (time.Duration, bool) { return r.p.Retry() }

// Writer writes server-sent events. Each method writes one whole event with
// a single Write and then flushes w when it can: through
// http.NewResponseController when w is an http.ResponseWriter (a writer
// that cannot flush is fine), or w's Flush method (bufio.Writer,
// http.Flusher) otherwise.
//
// A Writer is not safe for concurrent use; its zero value is not usable,
// use NewWriter.
type Writer struct {
	w     io.Writer
	flush func() error
	buf   []byte
	json  bytes.Buffer
	enc   *json.Encoder
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	sw := &Writer{w: w}
	switch f := w.(type) {
	case http.ResponseWriter:
		sw.flush = http.NewResponseController(f).Flush
	case interface{ Flush() error }:
		sw.flush = f.Flush
	case http.Flusher:
		sw.flush = func() error { f.Flush(); return nil }
	}
	return sw
}

// WriteData writes an event whose data is data. Data holding line breaks
// (CRLF, LF or CR) becomes several "data:" lines; a reader joins them with
// "\n".
func (w *Writer) WriteData(data []byte) error {
	w.buf = appendData(w.buf[:0], data)
	return w.send()
}

// WriteJSON writes an event whose data is v encoded as JSON (like
// json.Marshal, but with <, > and & not escaped).
func (w *Writer) WriteJSON(v any) error {
	if w.enc == nil {
		w.enc = json.NewEncoder(&w.json)
		w.enc.SetEscapeHTML(false)
	}
	w.json.Reset()
	if err := w.enc.Encode(v); err != nil {
		return fmt.Errorf("wire: sse json: %w", err)
	}
	return w.WriteData(bytes.TrimSuffix(w.json.Bytes(), []byte("\n")))
}

// WriteEvent writes ev: its "event:" and "id:" fields when set, then its
// data. A Type or ID holding CR or LF, or an ID holding NUL, is refused
// with ErrInvalidField.
func (w *Writer) WriteEvent(ev Event) error {
	if strings.ContainsAny(ev.Type, "\r\n") || strings.ContainsAny(ev.ID, "\r\n\x00") {
		return fmt.Errorf("%w: event %q id %q", ErrInvalidField, ev.Type, ev.ID)
	}
	b := w.buf[:0]
	if ev.Type != "" {
		b = append(append(append(b, "event: "...), ev.Type...), '\n')
	}
	if ev.ID != "" {
		b = append(append(append(b, "id: "...), ev.ID...), '\n')
	}
	w.buf = appendData(b, ev.Data)
	return w.send()
}

// WriteComment writes a comment (": text"), which readers ignore; servers
// send them as keep-alives. Text holding line breaks becomes several
// comment lines.
func (w *Writer) WriteComment(text string) error {
	b := w.buf[:0]
	for line, rest, more := cutLine(text); ; line, rest, more = cutLine(rest) {
		b = append(append(append(b, ": "...), line...), '\n')
		if !more {
			break
		}
	}
	w.buf = append(b, '\n')
	return w.send()
}

// WriteDone writes the "data: [DONE]" event that ends an OpenAI stream.
func (w *Writer) WriteDone() error {
	w.buf = append(w.buf[:0], "data: [DONE]\n\n"...)
	return w.send()
}

func (w *Writer) send() error {
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("wire: sse write: %w", err)
	}
	if w.flush == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			w.flush = nil
			return nil
		}
		return fmt.Errorf("wire: sse flush: %w", err)
	}
	return nil
}

// appendData appends data as "data:" lines and the blank line that
// dispatches the event.
func appendData(b, data []byte) []byte {
	for line, rest, more := cutLine(data); ; line, rest, more = cutLine(rest) {
		if len(line) == 0 {
			b = append(b, "data:\n"...)
		} else {
			b = append(append(append(b, "data: "...), line...), '\n')
		}
		if !more {
			break
		}
	}
	return append(b, '\n')
}

// cutLine splits b at its first line break (CRLF, LF or CR). more reports
// whether there was one.
func cutLine[T string | []byte](b T) (line, rest T, more bool) {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			return b[:i], b[i+1:], true
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return b[:i], b[i+2:], true
			}
			return b[:i], b[i+1:], true
		}
	}
	return b, b[len(b):], false
}
