package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// ErrCorrupt is returned (wrapped) when stored bytes do not decode to an
// entry.
var ErrCorrupt = errors.New("cache: corrupt entry")

// codecVersion is the first byte of an encoded entry. A store that reads
// another version treats the entry as a miss, so replicas of different
// llmgate versions can share a Redis.
const codecVersion = 1

const (
	flagStream = 1 << iota
	flagStreamUsage
	flagUsage
	flagPromptDetails
	flagCompletionDetails
	flagCompletion // Kind == KindCompletion
)

// errVersion reports an entry written in another codec version.
var errVersion = errors.New("cache: entry of another codec version")

// MarshalBinary encodes the entry compactly: a version byte, flags, the
// created time, the model, the usage, then the body or each event, all
// length-prefixed.
func (e *Entry) MarshalBinary() ([]byte, error) {
	return e.appendBinary(make([]byte, 0, e.Size())), nil
}

func (e *Entry) appendBinary(b []byte) []byte {
	var flags byte
	if e.Stream {
		flags |= flagStream
	}
	if e.StreamUsage {
		flags |= flagStreamUsage
	}
	if e.Kind == KindCompletion {
		flags |= flagCompletion
	}
	u := e.Usage
	if u != nil {
		flags |= flagUsage
		if u.PromptTokensDetails != nil {
			flags |= flagPromptDetails
		}
		if u.CompletionTokensDetails != nil {
			flags |= flagCompletionDetails
		}
	}
	b = append(b, codecVersion, flags)
	var created int64
	if !e.Created.IsZero() {
		created = e.Created.UnixNano()
	}
	b = binary.AppendVarint(b, created)
	b = appendField(b, e.Model)
	if u != nil {
		b = appendInts(b, u.PromptTokens, u.CompletionTokens, u.TotalTokens)
		if d := u.PromptTokensDetails; d != nil {
			b = appendInts(b, d.CachedTokens, d.AudioTokens)
		}
		if d := u.CompletionTokensDetails; d != nil {
			b = appendInts(b, d.ReasoningTokens, d.AudioTokens, d.AcceptedPredictionTokens, d.RejectedPredictionTokens)
		}
	}
	if !e.Stream {
		b = binary.AppendUvarint(b, uint64(len(e.Body)))
		return append(b, e.Body...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Events)))
	for _, ev := range e.Events {
		b = binary.AppendUvarint(b, uint64(len(ev)))
		b = append(b, ev...)
	}
	return b
}

func appendInts(b []byte, v ...int) []byte {
	for _, x := range v {
		b = binary.AppendVarint(b, int64(x))
	}
	return b
}

// UnmarshalBinary decodes what MarshalBinary encoded. The entry keeps
// references into b.
func (e *Entry) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != codecVersion {
		return fmt.Errorf("%w %d", errVersion, b[0])
	}
	d.b = b[1:]
	flags := d.byte()
	*e = Entry{Stream: flags&flagStream != 0, StreamUsage: flags&flagStreamUsage != 0}
	if flags&flagCompletion != 0 {
		e.Kind = KindCompletion
	}
	if created := d.varint(); created != 0 {
		e.Created = time.Unix(0, created)
	}
	e.Model = string(d.bytes())
	if flags&flagUsage != 0 {
		u := &wire.Usage{PromptTokens: d.int(), CompletionTokens: d.int(), TotalTokens: d.int()}
		if flags&flagPromptDetails != 0 {
			u.PromptTokensDetails = &wire.PromptTokensDetails{CachedTokens: d.int(), AudioTokens: d.int()}
		}
		if flags&flagCompletionDetails != 0 {
			u.CompletionTokensDetails = &wire.CompletionTokensDetails{ReasoningTokens: d.int(), AudioTokens: d.int(),
				AcceptedPredictionTokens: d.int(), RejectedPredictionTokens: d.int()}
		}
		e.Usage = u
	}
	if !e.Stream {
		e.Body = d.bytes()
	} else {
		n := d.uvarint()
		if n > uint64(len(d.b)) { // every event takes at least one byte
			d.fail()
		} else {
			e.Events = make([][]byte, 0, n)
			for i := uint64(0); i < n && d.err == nil; i++ {
				e.Events = append(e.Events, d.bytes())
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return d.err
}

// decoder reads the encoding; after the first error every read returns
// zero values and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed", ErrCorrupt)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int { return int(d.varint()) }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
