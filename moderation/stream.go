package moderation

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

// StreamConfig configures a StreamFilter. The zero value is the default.
type StreamConfig struct {
	// Moderator judges the window. A *Builtin is called directly (no
	// allocation unless it flags); any other Moderator gets the window as
	// one Input per chunk, which is only sensible if it is fast.
	// Default: Default().
	Moderator Moderator
	// HoldBack is the number of bytes always held back from the end of the
	// text received so far, so that a term split across chunks is seen
	// whole before any of it is released. Terms up to this length (after
	// the spacing they were written with) are guaranteed to be caught.
	// Default: 64.
	HoldBack int
	// MaxHoldBack bounds how far back the release point may move to keep
	// an unfinished word (an email, a key, a JWT) whole. Default: 1024.
	MaxHoldBack int
	// Context is how many already released bytes are judged again with the
	// new ones, so a phrase that straddles the release point is read
	// whole. Default: 256.
	Context int
}

// Decision is what a StreamFilter says after each chunk.
type Decision struct {
	// Release is text that is safe to send now (possibly empty).
	Release string
	// Cut means the stream must stop here: the held-back text and anything
	// after it must not be sent. Every later call also reports Cut.
	Cut bool
	// Result is the verdict that caused the cut (zero unless Cut is first
	// reported by this call).
	Result wire.ModerationResult
}

// StreamFilter moderates a text stream incrementally for output
// moderation: Write it each delta and send what it releases; on a cut, end
// the stream (the middleware ends it with finish_reason "content_filter").
// It is transport-agnostic and knows nothing about SSE.
//
// A StreamFilter serves one stream and is not safe for concurrent use.
type StreamFilter struct {
	cfg     StreamConfig
	builtin *Builtin
	buf     []byte // released context, then pending text
	ctxLen  int    // bytes of buf already released
	cut     bool
}

// NewStreamFilter returns a filter for one stream.
func NewStreamFilter(cfg StreamConfig) *StreamFilter {
	if cfg.Moderator == nil {
		cfg.Moderator = Default()
	}
	if cfg.HoldBack <= 0 {
		cfg.HoldBack = 64
	}
	if cfg.MaxHoldBack < cfg.HoldBack {
		cfg.MaxHoldBack = max(1024, cfg.HoldBack)
	}
	if cfg.Context <= 0 {
		cfg.Context = 256
	}
	f := &StreamFilter{cfg: cfg, buf: make([]byte, 0, cfg.Context+cfg.MaxHoldBack+256)}
	f.builtin, _ = cfg.Moderator.(*Builtin)
	return f
}

// Write adds a delta and decides what may be released. An error means the
// moderator could not judge; the caller decides whether that cuts.
func (f *StreamFilter) Write(ctx context.Context, delta string) (Decision, error) {
	if f.cut {
		return Decision{Cut: true}, nil
	}
	f.buf = append(f.buf, delta...)
	if d, err := f.judge(ctx, false); d.Cut || err != nil {
		return d, err
	}
	return Decision{Release: f.release(f.releasePoint())}, nil
}

// Close judges the end of the stream and releases the rest, or cuts.
func (f *StreamFilter) Close(ctx context.Context) (Decision, error) {
	if f.cut {
		return Decision{Cut: true}, nil
	}
	if d, err := f.judge(ctx, true); d.Cut || err != nil {
		return d, err
	}
	return Decision{Release: f.release(len(f.buf) - f.ctxLen)}, nil
}

// Pending returns the number of bytes received but not yet released.
func (f *StreamFilter) Pending() int { return len(f.buf) - f.ctxLen }

func (f *StreamFilter) judge(ctx context.Context, final bool) (Decision, error) {
	if b := f.builtin; b != nil {
		sc := b.pool.Get().(*scratch)
		b.run(sc, string(f.buf), final)
		s := sc.scores
		b.pool.Put(sc)
		if !b.Flagged(&s) {
			return Decision{}, nil
		}
		f.cutNow()
		return Decision{Cut: true, Result: b.Result(&s)}, nil
	}
	res, err := f.cfg.Moderator.Moderate(ctx, []Input{{Text: string(f.buf)}})
	if err != nil {
		return Decision{}, fmt.Errorf("moderation: stream: %w", err)
	}
	if len(res) != 1 {
		return Decision{}, fmt.Errorf("moderation: stream: %d results for 1 input", len(res))
	}
	if !res[0].Flagged {
		return Decision{}, nil
	}
	f.cutNow()
	return Decision{Cut: true, Result: res[0]}, nil
}

func (f *StreamFilter) cutNow() {
	f.cut = true
	f.buf = f.buf[:0]
	f.ctxLen = 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// releasePoint returns how many pending bytes may be released: all but
// HoldBack, ending after whitespace so no word is split, unless that would
// hold back more than MaxHoldBack.
func (f *StreamFilter) releasePoint() int {
	pending := f.buf[f.ctxLen:]
	target := len(pending) - f.cfg.HoldBack
	if target <= 0 {
		return 0
	}
	for k := target - 1; k >= 0; k-- {
		if isSpace(pending[k]) {
			return k + 1
		}
	}
	if len(pending) <= f.cfg.MaxHoldBack {
		return 0
	}
	r := len(pending) - f.cfg.MaxHoldBack
	for r > 0 && !utf8.RuneStart(pending[r]) {
		r--
	}
	return r
}

// release returns the first n pending bytes and keeps at most Context
// released bytes, starting at a word.
func (f *StreamFilter) release(n int) string {
	if n == 0 {
		return ""
	}
	out := string(f.buf[f.ctxLen : f.ctxLen+n])
	f.ctxLen += n
	if drop := f.ctxLen - f.cfg.Context; drop > 0 {
		for drop < f.ctxLen && !isSpace(f.buf[drop-1]) {
			drop++
		}
		copy(f.buf, f.buf[drop:])
		f.buf = f.buf[:len(f.buf)-drop]
		f.ctxLen -= drop
	}
	return out
}
