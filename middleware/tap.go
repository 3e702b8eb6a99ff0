package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/wire"
)

// ErrHandlerPanicked is the Response.Err an observer's OnEnd sees when the
// wrapped handler panicked (http.ErrAbortHandler included, which
// httputil.ReverseProxy uses when an upstream stream breaks). The tap calls
// OnEnd with what the handler wrote so far, so that a partial stream is
// still settled, and then lets the panic continue to Recover.
var ErrHandlerPanicked = errors.New("middleware: handler panicked")

// errNoChunkType is Chunk.Err for a data event of an endpoint that has no
// stream chunk type.
var errNoChunkType = errors.New("middleware: no stream chunk type for this endpoint")

// errNotChunk is Chunk.Err for a data event that decodes but has none of a
// chunk's fields, such as an {"error":…} object sent mid-stream.
var errNotChunk = errors.New("middleware: stream event is not a chunk")

// maxTappedBody bounds the non-streamed body the tap keeps to parse. A
// longer body is still sent whole, but Response.Body and Usage stay nil.
const maxTappedBody = 16 << 20

// tapState is the reusable part of a tap: buffers and decode targets. It is
// pooled; nothing in it outlives a request.
type tapState struct {
	parser wire.Parser
	body   []byte
	chunk  Chunk
	chat   wire.ChatCompletionChunk
	dec    chunkjson.Decoder // copies strings: ch.Data is the parser's buffer
	comp   wire.Completion
}

// tapPool holds tapStates. Their decoders note the members of a chunk
// that wire.ChatCompletionChunk does not hold, for Chunk.extras (Count
// reads reasoning text there); a chunk without any costs nothing more.
var tapPool = sync.Pool{New: func() any { return &tapState{dec: chunkjson.Decoder{KeepUnknown: true}} }}

// tap is the ResponseWriter the wrapped handler writes to. It passes
// everything through to w and tells the call's observers what went by.
//
// Like any ResponseWriter it is not safe for concurrent use.
type tap struct {
	w     http.ResponseWriter
	c     *Call
	st    *tapState
	res   Response
	head  bool // a HEAD request: the client gets no body
	wrote bool // the final status was sent
	body  bool // keep the body to parse at the end
	over  bool // the body outgrew maxTappedBody
	ended bool // the handler returned; late writes are passed through only
	big   bool // the parser's buffers grew past what is worth pooling
}

// serveTapped serves next with the response tap installed for c: the tap
// passes what next writes through to w and publishes the status and
// headers, each event of an SSE stream and finally the Response to c's
// observers (see Observer), on the handler's goroutine.
//
//   - OnHeader runs before the header is sent, so observers may still set
//     headers (rate-limit headers, x-cache). 1xx statuses are passed on
//     unobserved. A handler that writes nothing gets OnHeader(200) when it
//     returns, as net/http then sends 200.
//   - An SSE stream (Content-Type text/event-stream) is flushed to the
//     client after every write that completes an event, whether or not next
//     flushes, and before OnChunk hears of the event. Data events are
//     decoded into Chunk.Chat or Chunk.Completion (per c.Endpoint) only when
//     the call has observers; Response.Usage is the usage of the last chunk
//     that carried one. An event left unfinished at the end is discarded, as
//     a client would.
//   - Another body is passed through as written and, when the call has
//     observers, kept (up to 16 MiB; HEAD, 204 and 304 bodies are not) for
//     Response.Body and the top-level "usage" it holds.
//   - When a write or flush fails (the client went away), the tap stops
//     sending, returns that error to next on every later write, and keeps
//     observing what next writes: the tokens were generated and billing
//     needs them. Response.Err is that first error, or else the request
//     context's error when the context ended before next returned.
//   - OnEnd runs when next returns, and also when next panics: then
//     Response.Err is ErrHandlerPanicked (unless a write had already
//     failed), Response.Status is 0 if next had sent no status, and the
//     panic continues after OnEnd (to Recover, or net/http).
//   - Before OnEnd, a response the client can tell is complete (no body,
//     or a Content-Length header) is flushed, so that the client has it
//     while the observers settle and store.
func serveTapped(next http.Handler, w http.ResponseWriter, r *http.Request, c *Call) {
	t := &tap{w: w, c: c, st: tapPool.Get().(*tapState), head: r.Method == http.MethodHead}
	completed := false
	defer func() {
		if !completed {
			t.finish(r, true)
		}
	}()
	next.ServeHTTP(t, r)
	completed = true
	t.finish(r, false)
}

// Header returns the header map of the underlying ResponseWriter.
func (t *tap) Header() http.Header { return t.w.Header() }

// WriteHeader publishes the status and headers to OnHeader, before they are
// sent, so observers may still add headers; then it sends them. 1xx
// statuses are passed through and not published.
func (t *tap) WriteHeader(code int) {
	if t.wrote || t.ended || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		t.w.WriteHeader(code)
		return
	}
	t.header(code)
	t.w.WriteHeader(code)
}

// header records the final status and tells the observers.
func (t *tap) header(code int) {
	t.wrote = true
	h := t.w.Header()
	t.res.Status = code
	t.res.Header = h
	t.res.Stream = isEventStream(h.Get("Content-Type"))
	bodyless := t.head || code == http.StatusNoContent || code == http.StatusNotModified
	t.body = !t.res.Stream && !bodyless
	t.st.parser.Reset()
	t.st.body = t.st.body[:0]
	for _, o := range t.c.observers {
		if o.OnHeader != nil {
			o.OnHeader(code, h)
		}
	}
}

// Write passes b to the client and observes it. When the client has gone
// away, b is still observed (the tokens were generated) but no longer
// sent, and the first write error is returned again.
func (t *tap) Write(b []byte) (int, error) {
	if t.ended {
		return t.w.Write(b)
	}
	if !t.wrote {
		t.header(http.StatusOK)
	}
	n, err := t.send(b)
	switch {
	case t.res.Stream:
		t.observeStream(b)
	case t.body && !t.over:
		if len(t.st.body)+len(b) > maxTappedBody {
			t.over = true
			t.st.body = t.st.body[:0]
		} else {
			t.st.body = append(t.st.body, b...)
		}
	}
	return n, err
}

// send writes b to the client unless an earlier write failed.
func (t *tap) send(b []byte) (int, error) {
	if t.res.Err != nil {
		return 0, t.res.Err
	}
	n, err := t.w.Write(b)
	t.res.Written += int64(n)
	if err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
		t.res.Err = fmt.Errorf("middleware: writing the response: %w", err)
	}
	return n, err
}

// Flush flushes the client; see FlushError.
func (t *tap) Flush() { _ = t.FlushError() }

// FlushError flushes the underlying ResponseWriter through
// http.NewResponseController, so that handlers using either form reach
// it. A writer that cannot flush is not an error.
func (t *tap) FlushError() error {
	if !t.wrote && !t.ended {
		t.header(http.StatusOK)
	}
	if t.res.Err != nil {
		return t.res.Err
	}
	err := http.NewResponseController(t.w).Flush()
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		t.res.Err = fmt.Errorf("middleware: flushing the response: %w", err)
		return err
	}
	return nil
}

// Unwrap returns the underlying ResponseWriter, for
// http.NewResponseController.
func (t *tap) Unwrap() http.ResponseWriter { return t.w }

// observeStream parses the SSE bytes b the handler wrote: after the first
// complete event it flushes the client, then publishes every event.
func (t *tap) observeStream(b []byte) {
	p := &t.st.parser
	p.Feed(b)
	flushed := false
	for {
		ev, ok, err := p.Next()
		if !ok && err == nil {
			return
		}
		if !flushed {
			flushed = true
			if t.res.Err == nil {
				_ = t.FlushError()
			}
		}
		ch := &t.st.chunk
		*ch = Chunk{}
		switch {
		case err != nil:
			ch.Err = err
			t.res.Events++
			t.big = true
		case ev.IsDone():
			ch.Data, ch.Done = ev.Data, true
			t.res.Done = true
			if t.res.Err == nil {
				t.c.markAnswered() // flushed just above
			}
		default:
			ch.Data = ev.Data
			t.res.Events++
			ch.seq = t.res.Events
			t.big = t.big || len(ev.Data) > 1<<20
			if len(t.c.observers) > 0 {
				t.parseChunk(ch)
			}
		}
		for _, o := range t.c.observers {
			if o.OnChunk != nil {
				o.OnChunk(ch)
			}
		}
	}
}

// parseChunk decodes ch.Data into the chunk type of the call's endpoint,
// reusing the pooled decode targets, and keeps the usage it carries.
func (t *tap) parseChunk(ch *Chunk) {
	st := t.st
	var usage *wire.Usage
	var err error
	switch t.c.Endpoint {
	case EndpointChatCompletions:
		err = st.dec.Decode(ch.Data, &st.chat) // reuses st.chat.Choices
		if c := &st.chat; err == nil && c.ID == "" && c.Object == "" && len(c.Choices) == 0 && c.Usage == nil {
			err = errNotChunk // an error object, say
		}
		if err == nil {
			ch.Chat, usage = &st.chat, st.chat.Usage
			ch.extras, ch.extrasOK = st.dec.Unknown()
		}
	case EndpointCompletions:
		choices := st.comp.Choices[:cap(st.comp.Choices)]
		clear(choices)
		st.comp = wire.Completion{Choices: choices[:0]}
		err = json.Unmarshal(ch.Data, &st.comp)
		if c := &st.comp; err == nil && c.ID == "" && c.Object == "" && len(c.Choices) == 0 && c.Usage == nil {
			err = errNotChunk
		}
		if err == nil {
			ch.Completion, usage = &st.comp, st.comp.Usage
		}
	default:
		err = errNoChunkType
	}
	if err != nil {
		ch.Err = fmt.Errorf("middleware: stream chunk: %w", err)
		return
	}
	if usage != nil {
		t.res.Usage = usage // freshly decoded: the pooled targets do not reuse it
	}
}

// finish completes the response after the handler returned (or panicked)
// and tells the observers.
func (t *tap) finish(r *http.Request, panicked bool) {
	if t.ended {
		return
	}
	st := t.st
	if !t.wrote && !panicked {
		// net/http sends 200 with no body after the handler returns.
		t.header(http.StatusOK)
	}
	switch {
	case t.res.Stream:
		_ = st.parser.End() // an unfinished event is discarded, as a client would
	case t.body && !t.over && len(st.body) > 0 && len(t.c.observers) > 0:
		t.res.Body = bytes.Clone(st.body)
		if v := topLevelValue(st.body, "usage"); v != nil {
			var u *wire.Usage
			if json.Unmarshal(v, &u) == nil {
				t.res.Usage = u
			}
		}
	}
	if t.res.Err == nil {
		switch {
		case panicked:
			t.res.Err = ErrHandlerPanicked
		case r.Context().Err() != nil:
			t.res.Err = fmt.Errorf("middleware: client went away: %w", r.Context().Err())
		}
	}
	t.ended = true
	t.release()
	if !panicked && t.res.Err == nil && t.hasOnEnd() && t.delimited() {
		// The response is whole and the client can tell: send it now
		// rather than when the handler returns, so that the client does
		// not wait for the observers' bookkeeping (on Redis, the limiter's
		// and the ledger's settles and the cache's store are a round trip
		// each). A failure here changes nothing: the answer is complete
		// and is settled and stored as such.
		t.c.markAnswered()
		_ = http.NewResponseController(t.w).Flush()
	}
	c := t.c
	done := false
	defer func() {
		c.ending = false
		if !done { // an observer panicked: its panic goes on, after the rest of the work
			c.waitEnd(false)
		}
	}()
	c.ending = true
	for _, o := range c.observers {
		if o.OnEnd != nil {
			o.OnEnd(&t.res)
		}
	}
	c.ending = false
	done = true
	c.waitEnd(!panicked) // a panic of the handler goes on in any case
}

// hasOnEnd reports whether an observer of the call has an OnEnd.
func (t *tap) hasOnEnd() bool {
	for _, o := range t.c.observers {
		if o.OnEnd != nil {
			return true
		}
	}
	return false
}

// delimited reports whether the client can tell that the response is
// complete before the handler returns: it has no body, or its header
// declares the body's length. (A chunked body ends only with the
// terminator net/http writes when the handler returns; a stream's client
// stops at its [DONE] event, which the tap flushed already.)
func (t *tap) delimited() bool {
	if t.head || t.res.Status == http.StatusNoContent || t.res.Status == http.StatusNotModified {
		return true
	}
	return !t.res.Stream && t.w.Header().Get("Content-Length") != ""
}

// release returns the pooled state, dropping buffers that grew unusually
// large so that one huge response does not pin memory.
func (t *tap) release() {
	st := t.st
	t.st = nil
	if cap(st.body) > 1<<20 {
		st.body = nil
	}
	if t.big {
		st.parser = wire.Parser{}
	} else {
		st.parser.Reset()
	}
	st.chunk = Chunk{}
	tapPool.Put(st)
}

// isEventStream reports a Content-Type of text/event-stream, parameters
// and case aside.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	for len(ct) > 0 && (ct[0] == ' ' || ct[0] == '\t') {
		ct = ct[1:]
	}
	if len(ct) < len(es) || !equalFoldASCII(ct[:len(es)], es) {
		return false
	}
	rest := ct[len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}

// topLevelValue returns the raw value of key in the JSON object b, found by
// skipping over the other members without decoding them; nil when b is not
// an object holding key. It checks only the structure it walks: the value
// it returns is for encoding/json to validate.
func topLevelValue(b []byte, key string) []byte {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil
	}
	for i++; ; i++ {
		i = skipSpace(b, i)
		if i == len(b) || b[i] != '"' {
			return nil
		}
		kend := stringEnd(b, i)
		if kend < 0 {
			return nil
		}
		k := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		if i == len(b) || b[i] != ':' {
			return nil
		}
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		if vend < 0 {
			return nil
		}
		if string(k) == key {
			return b[i:vend]
		}
		i = skipSpace(b, vend)
		if i == len(b) || b[i] != ',' {
			return nil
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the offset after the string starting at b[i] ('"'),
// or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the offset after the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i == len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = stringEnd(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
