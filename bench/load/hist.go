package load

import (
	"math/bits"
	"time"
)

// Histogram records durations with a relative error below 1/1024 (0.1 %):
// durations under 2.048 µs are kept to the nanosecond, longer ones in
// buckets whose width is at most 1/1024 of their lower bound — 0.2 µs at
// 200 µs, 1 µs at 1 ms. Durations above 2^40 ns (about 18 minutes) count
// in the last bucket. Its zero value is empty and ready; it is not safe for
// concurrent use (give each goroutine its own and Merge them).
type Histogram struct {
	counts   []uint64 // allocated on the first Record
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const (
	subBits    = 10
	subCount   = 1 << subBits // buckets per power of two
	maxShift   = 40 - subBits // durations up to 2^40 ns
	numBuckets = 2*subCount + maxShift*subCount
)

// bucketOf returns the index of v's bucket.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	s := bits.Len64(v) - subBits - 1 // v>>s is in [subCount, 2*subCount)
	if s > maxShift {
		return numBuckets - 1
	}
	return 2*subCount + (s-1)*subCount + int(v>>s) - subCount
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	s := (i-2*subCount)/subCount + 1
	m := uint64((i-2*subCount)%subCount + subCount)
	return m << s, 1 << s
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every duration recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the shortest duration recorded; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max is the longest duration recorded; 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average duration; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the duration below which a fraction q (0–1) of the
// recorded durations lie: the middle of the bucket holding the
// ceil(q·n)-th smallest duration, clamped to [Min, Max]. It is 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q*float64(h.n) + 0.999999999) // ceil, tolerant of rounding
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			v := time.Duration(lo + (w-1)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
