package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 2047, 2048, 2049, 4095, 4096, 123456, 1 << 30, 1<<40 - 1} {
		i := bucketOf(v)
		lo, w := bucketRange(i)
		if v < lo || v >= lo+w {
			t.Errorf("bucketOf(%d) = %d: range [%d,%d) does not hold it", v, i, lo, lo+w)
		}
		if v >= 2048 && float64(w)/float64(lo) > 1.0/1024 {
			t.Errorf("bucket of %d is %d wide at %d: more than 1/1024", v, w, lo)
		}
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Errorf("bucketOf(2^50) = %d, want the last bucket %d", got, numBuckets-1)
	}
	// Buckets are contiguous and increasing.
	for i := 1; i < numBuckets; i++ {
		plo, pw := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if plo+pw != lo {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, plo+pw)
		}
	}
}

func TestQuantileSmallValuesExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.99, 99}, {1, 100}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("count %d min %v max %v mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

// TestQuantileAgainstSort compares the histogram's quantiles with exact
// ones over random latencies between 50 µs and 50 ms.
func TestQuantileAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]time.Duration, 100000)
	for i := range vals {
		vals[i] = time.Duration(50e3 * (1 + r.ExpFloat64()*40))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if d := (got - exact).Abs(); float64(d) > float64(exact)/1024+1 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %v", q, got, exact, d)
		}
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram: want zeros")
	}
	a.Record(10 * time.Microsecond)
	b.Record(30 * time.Microsecond)
	b.Record(-time.Second) // counts as 0
	a.Merge(&b)
	a.Merge(&empty)
	if a.Count() != 3 || a.Min() != 0 || a.Max() != 30*time.Microsecond {
		t.Errorf("merged: count %d min %v max %v", a.Count(), a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); (got - 10*time.Microsecond).Abs() > 10*time.Nanosecond {
		t.Errorf("merged median %v, want 10µs", got)
	}
	empty.Merge(&a)
	if empty.Count() != 3 {
		t.Errorf("merge into empty: count %d", empty.Count())
	}
}
