package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// replayBufs holds the buffers Replay writes each event from, so that a
// replay allocates none once they have grown; a buffer grown past
// maxPooledReplayBuf by a huge event is left to the collector.
var replayBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledReplayBuf = 64 << 10

// Pacing spaces out the events of a replayed stream. The zero value sends
// them at once.
type Pacing struct {
	// Delay returns how long to wait before event i (0-based; the final
	// [DONE] is event len(events)). Nil or a non-positive result means no
	// wait.
	Delay func(i int) time.Duration
	// Wait waits for d or until ctx ends, returning ctx's error then.
	// Default: a timer (tests inject a fake).
	Wait func(ctx context.Context, d time.Duration) error
}

// EveryChunk returns a Pacing that waits d before each event but the
// first.
func EveryChunk(d time.Duration) Pacing {
	return Pacing{Delay: func(i int) time.Duration {
		if i == 0 {
			return 0
		}
		return d
	}}
}

func waitTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Replay writes events as a server-sent event stream, "data: <event>" per
// event and then "data: [DONE]", calling flush (when non-nil) after each
// event so that the client sees the original chunk boundaries. Event data
// holding line breaks is split into several data lines, which a reader
// joins back. It stops early when ctx ends or a write fails, returning
// the error.
func Replay(ctx context.Context, w io.Writer, flush func() error, events [][]byte, p Pacing) error {
	wait := p.Wait
	if wait == nil {
		wait = waitTimer
	}
	bp := replayBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooledReplayBuf {
			*bp = buf[:0]
			replayBufs.Put(bp)
		}
	}()
	for i := 0; i <= len(events); i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cache: replay: %w", err)
		}
		if p.Delay != nil {
			if d := p.Delay(i); d > 0 {
				if err := wait(ctx, d); err != nil {
					return fmt.Errorf("cache: replay: %w", err)
				}
			}
		}
		if i < len(events) {
			buf = appendEvent(buf[:0], events[i])
		} else {
			buf = append(buf[:0], "data: [DONE]\n\n"...)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("cache: replay: %w", err)
		}
		if flush != nil {
			if err := flush(); err != nil {
				return fmt.Errorf("cache: replay flush: %w", err)
			}
		}
	}
	return nil
}

// appendEvent appends data as "data:" lines (one per line of data; CRLF,
// LF and CR all end a line) and the blank line that ends the event.
func appendEvent(b, data []byte) []byte {
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		if len(data) == 0 {
			return append(b, "data:\n\n"...)
		}
		b = append(b, "data: "...)
		b = append(b, data...)
		return append(b, "\n\n"...)
	}
	start := 0
	for i := 0; i <= len(data); i++ {
		if i < len(data) && data[i] != '\n' && data[i] != '\r' {
			continue
		}
		line := data[start:i]
		if len(line) == 0 {
			b = append(b, "data:\n"...)
		} else {
			b = append(append(append(b, "data: "...), line...), '\n')
		}
		if i < len(data) && data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	return append(b, '\n')
}
