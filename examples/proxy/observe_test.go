package main

import (
	"testing"
	"time"
)

// TestRecordingWriterSent checks the end of a response as the latency
// counts it: the last flush when nothing was written after it, else when
// the handler returned.
func TestRecordingWriterSent(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	returned := t0.Add(5 * time.Second)
	for _, tc := range []struct {
		name         string
		write, flush time.Duration // 0: none
		want         time.Time
	}{
		{"never flushed: sent when the handler returned", time.Second, 0, returned},
		{"flushed whole before the end-of-request work", time.Second, 2 * time.Second, t0.Add(2 * time.Second)},
		{"written after the last flush", 3 * time.Second, 2 * time.Second, returned},
		{"flushed with no body (a HEAD, a 204)", 0, 2 * time.Second, t0.Add(2 * time.Second)},
	} {
		w := &recordingWriter{}
		if tc.write > 0 {
			w.lastWrite = t0.Add(tc.write)
		}
		if tc.flush > 0 {
			w.lastFlush = t0.Add(tc.flush)
		}
		if got := w.sent(returned); !got.Equal(tc.want) {
			t.Errorf("%s: sent %v, want %v", tc.name, got.Sub(t0), tc.want.Sub(t0))
		}
	}
}
