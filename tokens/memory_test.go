package tokens

import (
	"runtime"
	"testing"
)

// TestEncodingMemory loads each encoding afresh and reports the heap it
// keeps (run with -v to see the numbers); it fails if an estimate is far
// from the measurement.
func TestEncodingMemory(t *testing.T) {
	for _, name := range []string{"cl100k_base", "o200k_base", "p50k_base", "r50k_base"} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			enc, err := load(name, specs[name])
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			measured := int(after.HeapAlloc) - int(before.HeapAlloc)
			t.Logf("%s: %d tokens, measured heap %.1f MiB, MemoryBytes %.1f MiB",
				name, enc.Vocab(), float64(measured)/(1<<20), float64(enc.MemoryBytes())/(1<<20))
			if enc.MemoryBytes() < measured/3 || enc.MemoryBytes() > measured*3 {
				t.Errorf("MemoryBytes %d far from measured %d", enc.MemoryBytes(), measured)
			}
			runtime.KeepAlive(enc)
		})
	}
}
