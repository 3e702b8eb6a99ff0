package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// Kind says which endpoint's response an entry holds.
type Kind uint8

// Kinds. The zero value is KindChat.
const (
	KindChat       Kind = iota // /v1/chat/completions
	KindCompletion             // /v1/completions (legacy)
)

// String returns "chat" or "completion".
func (k Kind) String() string {
	if k == KindCompletion {
		return "completion"
	}
	return "chat"
}

// ErrNotStorable is returned (wrapped) for a response that must not be
// stored: an error status, a content-filtered choice, an incomplete or
// unparsable stream. The wrapping message says which.
var ErrNotStorable = errors.New("cache: response not storable")

// Entry is a stored response: a 200 response of one endpoint, kept either
// as its JSON body or as the recorded data of each event of its SSE stream
// (in order, with the original chunk boundaries, [DONE] excluded).
//
// An Entry handed to a Store or returned by one is shared and must not be
// modified; reading it from several goroutines at once is safe. JSON and
// StreamEvents remember the conversions they make, so that a hit served
// again does not convert again: do not modify an Entry after calling them,
// and do not copy an Entry (use a pointer).
type Entry struct {
	Kind Kind
	// Stream reports a recorded stream (Events) rather than a JSON body
	// (Body).
	Stream bool
	// Body is the JSON body of a non-streamed response.
	Body []byte
	// Events holds the data of each SSE event of a streamed response.
	Events [][]byte
	// StreamUsage reports that the last event is the usage-only chunk
	// (no choices) that stream_options.include_usage asks for.
	StreamUsage bool
	// Created is when the response was stored; Age counts from it.
	Created time.Time
	// Model is the model that answered, as the response named it.
	Model string
	// Usage is the usage the response reported (or the tap counted); nil
	// when unknown.
	Usage *wire.Usage

	// Conversions made once and kept: the JSON of a stream, and the
	// events with and without usage (index 1 and 0) when they are not a
	// plain slice of Events.
	memoJSON   atomic.Pointer[memoBody]
	memoEvents [2]atomic.Pointer[memoStream]
	// onGrow, when set, is asked to count the bytes a conversion would
	// add if kept, and says whether it may be: a MemoryStore counts them
	// towards its bound.
	onGrow atomic.Pointer[func(int64) bool]
}

// grew asks onGrow to count a conversion of n bytes, kept, and reports
// whether it may stay kept.
func (e *Entry) grew(n int) bool {
	if f := e.onGrow.Load(); f != nil {
		return (*f)(int64(n))
	}
	return true
}

// memoSize is what keeping events, a conversion of e, adds to e: the
// slice and the events not shared with e.Events (a stored stream given
// a usage chunk shares all the others).
func (e *Entry) memoSize(events [][]byte) int {
	n := 48 + 24*len(events)
	for i, ev := range events {
		if i < len(e.Events) && len(ev) > 0 && len(e.Events[i]) > 0 && &ev[0] == &e.Events[i][0] {
			continue
		}
		n += len(ev)
	}
	return n
}

type memoBody struct {
	b   []byte
	err error
}

type memoStream struct {
	events [][]byte
	err    error
}

// Size is the number of bytes the entry accounts for in a byte-bounded
// store: its payload plus a fixed overhead per entry and per event. The
// conversions JSON and StreamEvents keep are counted as they are made
// (a MemoryStore adds them to the entry's share).
func (e *Entry) Size() int {
	n := 160 + len(e.Body) + len(e.Model)
	for _, ev := range e.Events {
		n += 24 + len(ev)
	}
	if e.Usage != nil {
		n += 96
	}
	return n
}

// Age is how long ago the entry was created, never negative, as the whole
// seconds the HTTP age header carries are taken from it.
func (e *Entry) Age(now time.Time) time.Duration {
	if d := now.Sub(e.Created); d > 0 {
		return d
	}
	return 0
}

// NewBodyEntry checks a non-streamed 200 response body and returns the
// entry that stores it, created at now. It fails with ErrNotStorable when
// status is not 200, the body is not a completion of kind k, or a choice
// was cut by the content filter. body is kept, not copied.
func NewBodyEntry(k Kind, status int, body []byte, now time.Time) (*Entry, error) {
	if status != 200 {
		return nil, fmt.Errorf("%w: status %d", ErrNotStorable, status)
	}
	sum, err := readSummary(body)
	if err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrNotStorable, err)
	}
	want := wire.ObjectChatCompletion
	if k == KindCompletion {
		want = wire.ObjectTextCompletion
	}
	if sum.object != "" && sum.object != want {
		return nil, fmt.Errorf("%w: object %q", ErrNotStorable, sum.object)
	}
	model, usage, reasons := sum.model, sum.usage, sum.reasons
	if err := checkReasons(reasons); err != nil {
		return nil, err
	}
	return &Entry{Kind: k, Body: body, Created: now, Model: model, Usage: usage}, nil
}

// checkReasons refuses responses without choices, with a choice that did
// not finish, or with one the content filter cut.
func checkReasons(reasons []wire.FinishReason) error {
	if len(reasons) == 0 {
		return fmt.Errorf("%w: no choices", ErrNotStorable)
	}
	for _, r := range reasons {
		switch r {
		case wire.FinishContentFilter, "error", "abort": // "error": OpenRouter; "abort": vLLM
			return fmt.Errorf("%w: finish_reason %s", ErrNotStorable, r)
		case "":
			return fmt.Errorf("%w: a choice has no finish_reason", ErrNotStorable)
		}
	}
	return nil
}

// Recorder records a streamed response as it passes, for storing once it
// is complete. Feed it every data event (Add), then call Finish. Recording
// copies the event data and does nothing else, so it adds no latency to
// the stream; the parsing Finish needs happens after the stream ended.
//
// The zero value is ready to record a chat stream. A Recorder is not safe
// for concurrent use.
type Recorder struct {
	// Kind is the endpoint of the stream.
	Kind Kind
	// MaxBytes bounds the recorded data; a longer stream is not stored.
	// Default: no bound.
	MaxBytes int

	events [][]byte
	size   int
	done   bool
	over   bool
}

// Add records the data of one event; data is copied. The "[DONE]" event
// marks the stream complete and is not recorded.
func (r *Recorder) Add(data []byte) {
	if r.done || r.over {
		return
	}
	if string(data) == "[DONE]" {
		r.done = true
		return
	}
	r.size += len(data)
	if r.MaxBytes > 0 && r.size > r.MaxBytes {
		r.over, r.events = true, nil
		return
	}
	r.events = append(r.events, append([]byte(nil), data...))
}

// Done reports whether the [DONE] event was recorded.
func (r *Recorder) Done() bool { return r.done }

// Finish checks the recorded stream and returns its entry, created at now.
// status is the response status; usage is the usage the tap learned (it
// may have counted it when the stream carried none) and wins over the
// stream's own when non-nil. It fails with ErrNotStorable when status is
// not 200, the stream did not end with [DONE] (a cut stream or a client
// that went away), was too large, holds an event that is not a chunk of
// the Recorder's kind (another object, not JSON) or that carries an error
// member, or a choice ended by the content filter, with finish_reason
// error or abort, or not at all.
func (r *Recorder) Finish(status int, usage *wire.Usage, now time.Time) (*Entry, error) {
	switch {
	case status != 200:
		return nil, fmt.Errorf("%w: status %d", ErrNotStorable, status)
	case r.over:
		return nil, fmt.Errorf("%w: stream larger than %d bytes", ErrNotStorable, r.MaxBytes)
	case !r.done:
		return nil, fmt.Errorf("%w: stream did not end with [DONE]", ErrNotStorable)
	}
	e := &Entry{Kind: r.Kind, Stream: true, Events: r.events, Created: now}
	var err error
	switch r.Kind {
	case KindCompletion:
		var c *wire.Completion
		if c, _, err = mergeCompletionEvents(e.Events); err == nil {
			e.Model, e.Usage = c.Model, c.Usage
			err = checkCompletionReasons(c)
		}
	default:
		var c *wire.ChatCompletion
		if c, _, err = mergeChatEvents(e.Events); err == nil {
			e.Model, e.Usage = c.Model, c.Usage
			err = checkChatReasons(c)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrNotStorable) {
			err = fmt.Errorf("%w: %w", ErrNotStorable, err)
		}
		return nil, err
	}
	e.StreamUsage = lastIsUsage(e.Events)
	if usage != nil {
		u := *usage
		e.Usage = &u
	}
	return e, nil
}

func checkChatReasons(c *wire.ChatCompletion) error {
	reasons := make([]wire.FinishReason, len(c.Choices))
	for i, ch := range c.Choices {
		reasons[i] = ch.FinishReason
	}
	return checkReasons(reasons)
}

func checkCompletionReasons(c *wire.Completion) error {
	reasons := make([]wire.FinishReason, len(c.Choices))
	for i, ch := range c.Choices {
		reasons[i] = ch.FinishReason
	}
	return checkReasons(reasons)
}

// lastIsUsage reports whether the last event is a usage-only chunk.
func lastIsUsage(events [][]byte) bool {
	if len(events) == 0 {
		return false
	}
	var probe struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *wire.Usage       `json:"usage"`
	}
	if json.Unmarshal(events[len(events)-1], &probe) != nil {
		return false
	}
	return len(probe.Choices) == 0 && probe.Usage != nil
}
