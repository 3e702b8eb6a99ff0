package cache

import "testing"

// BenchmarkCanonForm is the canonicaliser without the hash (as
// BenchmarkKey/form-only) on each of BenchmarkKey's fixtures, under names
// that no other benchmark's name contains, so that a run of one of them
// (for instance under callgrind) measures it alone.
func BenchmarkCanonForm(b *testing.B) {
	b.Run("canonical", benchCanonForm(chatRequest1K))
	b.Run("openai-go", benchCanonForm(chatRequestGo1K))
	b.Run("plain-chat", benchCanonForm(chatRequestPlain1K))
	b.Run("short-turns", benchCanonForm(chatRequestTurns1K))
}

// benchCanonForm benchmarks the canonical form of body, with the CPU time
// per op beside the wall time.
func benchCanonForm(body []byte) func(*testing.B) {
	return func(b *testing.B) {
		c := new(canon)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			c.buf = c.buf[:0]
			c.reset(body, &defaultIgnore, true)
			if err := c.document(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	}
}
