package middleware

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// ErrBudgetExhausted is what the Budget layer's writer returns to a
// streaming handler once it ended the stream because the budget ran out,
// or because its ledger could not be asked for more and fails closed: the
// handler should stop generating.
var ErrBudgetExhausted = errors.New("middleware: budget exhausted mid-stream")

// budgetCall is the Budget layer's state for one request: its reservation,
// and for a stream the completion counted so far.
type budgetCall struct {
	b        *Budgets
	c        *Call
	prices   models.Prices
	ctx      context.Context // the request's, without its cancellation: a call is settled after its client left
	res      billing.Reservation
	reserved bool

	tally *streamTally // Count's, or the layer's own without Count; nil: no mid-stream check
	cut   bool         // the budget ran out mid-stream
	// cutErr is why the ledger could not be asked for more when that cut
	// the stream (a ledger failing closed); nil when the budget ran out.
	cutErr error
	// unchecked says the ledger failed mid-stream and fails open: the
	// stream goes on unchecked, and Settle records what it can.
	unchecked bool
}

// onChunk counts a streamed chunk and, once the stream has outgrown its
// reservation, asks the ledger for more; when the budget has run out it
// marks the call cut, and budgetWriter ends the stream. With Count in the
// chain both layers share Count's tally, so a chunk is counted once; while
// an upper bound of the tokens so far fits the reservation, the exact
// count is not asked for.
func (s *budgetCall) onChunk(ch *Chunk) {
	if s.cut || s.unchecked {
		return
	}
	if s.tally == nil {
		if s.tally = s.c.tally; s.tally == nil {
			enc := s.c.Encoding
			if enc == nil {
				m, _ := s.b.catalog.Resolve(s.c.Model)
				if enc, _ = tokens.Get(m.Encoding); enc == nil {
					return
				}
			}
			s.tally = &streamTally{enc: enc}
		}
	}
	if ch.Chat == nil && ch.Completion == nil {
		return
	}
	s.tally.add(ch) // a no-op when Count counted it already
	if s.res.Covers(billing.Cost(s.prices, wire.Usage{PromptTokens: s.c.PromptTokens, CompletionTokens: s.tally.bound})) {
		return // then the exact count fits too: cost only grows with tokens
	}
	soFar := billing.Cost(s.prices, wire.Usage{PromptTokens: s.c.PromptTokens, CompletionTokens: s.tally.completion()})
	if s.res.Covers(soFar) {
		return
	}
	ok, err := s.res.Continue(s.ctx, soFar, billing.WorstCase(s.prices, 0, s.b.stepTokens))
	if err != nil {
		// Settle records what the call generates, if it can. A ledger
		// that fails open lets the stream go on unchecked, and is not
		// asked again; otherwise nothing may be spent unaccounted, and
		// the stream ends here.
		s.b.logger.ErrorContext(s.ctx, "middleware: budget continue failed", "request_id", s.c.RequestID, "err", err)
		if errors.Is(err, billing.ErrUnavailable) && failsOpen(s.b.ledger) {
			s.unchecked = true
		} else {
			s.cut, s.cutErr = true, err
		}
		return
	}
	s.cut = !ok
}

// failsOpen reports whether a ledger admits calls while it is unavailable
// (a billing.RedisLedger with FailOpen).
func failsOpen(l billing.Ledger) bool {
	f, ok := l.(interface{ FailMode() billing.FailMode })
	return ok && f.FailMode() == billing.FailOpen
}

// onEnd settles the call: to nothing for a cache hit (by default), by
// cancelling for a response without output, else to the cost of its usage.
func (s *budgetCall) onEnd(res *Response) {
	c := s.c
	var cost billing.Money // what the reservation settles to; -1 cancels it
	switch {
	case c.CacheStatus == "HIT" && !s.b.chargeCacheHits:
		c.Cost = 0
	case budgetNoOutput(res):
		c.Cost, cost = 0, -1
	default:
		cost = min(s.cost(res), billing.MaxAmount)
		c.Cost = cost
	}
	switch {
	case !s.reserved:
	case inProcess(s.b.ledger):
		s.settle(cost)
	default:
		c.Go(func() { s.settle(cost) })
	}
}

// settle settles the reservation to cost, or cancels it when cost is
// negative.
func (s *budgetCall) settle(cost billing.Money) {
	if cost < 0 {
		if err := s.res.Cancel(s.ctx); err != nil {
			s.b.logger.ErrorContext(s.ctx, "middleware: budget cancel failed", "request_id", s.c.RequestID, "err", err)
		}
		return
	}
	if err := s.res.Settle(s.ctx, cost); err != nil {
		s.b.logger.ErrorContext(s.ctx, "middleware: budget settle failed", "request_id", s.c.RequestID, "cost", cost.String(), "err", err)
	}
}

// cost is what the response cost: Call.Usage (set by Count), else the
// usage the handler reported, else the prompt plus the streamed tokens
// this layer counted; with none of them, the worst case reserved.
func (s *budgetCall) cost(res *Response) billing.Money {
	usage := s.c.Usage
	if usage == nil {
		usage = res.Usage
	}
	if usage == nil && s.tally != nil && s.tally.counted() {
		usage = &wire.Usage{PromptTokens: s.c.PromptTokens, CompletionTokens: s.tally.completion()}
	}
	if usage == nil {
		return s.c.CostEstimate
	}
	return billing.Cost(s.prices, *usage)
}

// budgetNoOutput reports a response that produced nothing to bill: an
// error status, or a success with no event or body.
func budgetNoOutput(res *Response) bool {
	switch {
	case res.Status < 200 || res.Status > 299:
		return true
	case res.Stream:
		return res.Events == 0
	}
	return res.Written == 0 && len(res.Body) == 0
}

// budgetWriter sits between a streaming handler and the response tap. It
// passes an SSE stream through one event at a time, so that when an event
// makes the call run out of budget (budgetCall.onChunk, called by the tap
// during the write) the stream can end right after it, with a well-formed
// insufficient_quota event and [DONE]; later writes fail with
// ErrBudgetExhausted. Other bodies pass through untouched.
//
// An event ends with an empty line. Lines end with "\r\n", "\n" or "\r"
// (the SSE grammar), so the writer keeps two bits of state across writes:
// whether the last byte was '\r' (a '\n' right after it belongs to the
// same line end) and whether the current line has characters. Each write
// is cut right after the byte that ends an empty line; for "\r\n\r\n" that
// is the second '\r', and its '\n' starts the next piece.
//
// Like any ResponseWriter it is not safe for concurrent use.
type budgetWriter struct {
	w       http.ResponseWriter
	s       *budgetCall
	cr      bool // the last byte was '\r'
	midLine bool // the current line has characters
	ended   bool // the budget ended the stream
	// sse says whether the response is an SSE stream, decided at the first
	// Write: that write commits the header, and Content-Type can no longer
	// change what the client (or the tap, which decides at WriteHeader)
	// sees. 0: not decided yet, 1: a stream, 2: another body.
	sse uint8
}

// Header returns the header map of the underlying ResponseWriter.
func (bw *budgetWriter) Header() http.Header { return bw.w.Header() }

// WriteHeader sends the status.
func (bw *budgetWriter) WriteHeader(code int) { bw.w.WriteHeader(code) }

// Write passes b on, event by event for an SSE stream; see budgetWriter.
func (bw *budgetWriter) Write(b []byte) (int, error) {
	if bw.ended {
		return 0, ErrBudgetExhausted
	}
	if bw.sse == 0 {
		bw.sse = 2
		if isEventStream(bw.w.Header().Get("Content-Type")) {
			bw.sse = 1
		}
	}
	if bw.sse != 1 {
		return bw.w.Write(b)
	}
	written, start := 0, 0
	var err error
	sc := eventScan{b: b, nextCR: -1, nextLF: -1}
	for {
		i := sc.next(&bw.cr, &bw.midLine)
		if i < 0 {
			break
		}
		// b[i] ends an empty line: the end of an event.
		n, e := bw.w.Write(b[start : i+1])
		written += n
		if e != nil {
			err = e
		}
		start = i + 1
		if bw.s.cut {
			bw.end()
			return written, ErrBudgetExhausted
		}
	}
	if start < len(b) {
		n, e := bw.w.Write(b[start:])
		written += n
		if e != nil {
			err = e
		}
	}
	return written, err
}

// eventScan finds the ends of SSE events in one write. It looks only at
// line ends, which it finds with bytes.IndexByte (vectorised in the
// standard library): the position of the next '\r' and of the next '\n'
// are searched once each and kept until the scan passes them, so every
// byte is looked at by at most one search per kind and a stream without
// '\r' costs one search for it per write.
type eventScan struct {
	b      []byte
	p      int // the next byte to look at
	nextCR int // the next '\r' at or after p, len(b) for none; below p: search again
	nextLF int // the same for '\n'
}

// find returns the position of the next c at or after s.p, len(s.b) when
// there is none, searching only when *at is behind s.p.
func (s *eventScan) find(c byte, at *int) int {
	if *at < s.p {
		if j := bytes.IndexByte(s.b[s.p:], c); j >= 0 {
			*at = s.p + j
		} else {
			*at = len(s.b)
		}
	}
	return *at
}

// next returns the index of the next byte that ends an empty line, or -1
// when the rest of the buffer holds none; cr and midLine are the writer's
// line state (see budgetWriter), carried from byte to byte as a
// byte-at-a-time scan would: a run of line text sets midLine and clears
// cr, and a line end is read as that scan reads it.
func (s *eventScan) next(cr, midLine *bool) int {
	for s.p < len(s.b) {
		t := min(s.find('\r', &s.nextCR), s.find('\n', &s.nextLF))
		if t > s.p { // line text before the line end (or the buffer's end)
			*cr, *midLine = false, true
		}
		if t == len(s.b) {
			s.p = t
			return -1
		}
		s.p = t + 1
		c := s.b[t]
		if c == '\n' && *cr { // the '\n' of "\r\n"
			*cr = false
			continue
		}
		*cr = c == '\r'
		if *midLine {
			*midLine = false
			continue
		}
		return t
	}
	return -1
}

// end closes the stream with an insufficient_quota event and [DONE].
func (bw *budgetWriter) end() {
	bw.ended = true
	e := &wire.Error{Status: http.StatusTooManyRequests, Type: wire.TypeInsufficientQuota, Code: wire.CodeInsufficientQuota,
		Message: "The response was stopped because you exceeded your current quota. Request ID: " + bw.s.c.RequestID + "."}
	if bw.s.cutErr != nil {
		e = budgetUnavailable(bw.s.c, bw.s.cutErr)
	}
	sw := wire.NewWriter(bw.w)
	_ = sw.WriteData(trimNewline(wire.MarshalEnvelope(e)))
	_ = sw.WriteDone()
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Flush flushes the client; see FlushError.
func (bw *budgetWriter) Flush() { _ = bw.FlushError() }

// FlushError flushes the underlying ResponseWriter.
func (bw *budgetWriter) FlushError() error {
	err := http.NewResponseController(bw.w).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// Unwrap returns the underlying ResponseWriter, for
// http.NewResponseController.
func (bw *budgetWriter) Unwrap() http.ResponseWriter { return bw.w }
