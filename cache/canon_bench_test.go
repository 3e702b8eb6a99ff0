package cache

import "testing"

// BenchmarkCanonForm is the canonicaliser without the hash (as
// BenchmarkKey/form-only) on each of BenchmarkKey's fixtures, under names
// that no other benchmark's name contains, so that a run of one of them
// (for instance under callgrind) measures it alone.
func BenchmarkCanonForm(b *testing.B) {
	form := func(body []byte) func(*testing.B) {
		return func(b *testing.B) {
			c := new(canon)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c.buf = c.buf[:0]
				c.reset(body, &defaultIgnore, true)
				if err := c.document(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("canonical", form(chatRequest1K))
	b.Run("openai-go", form(chatRequestGo1K))
	b.Run("plain-chat", form(chatRequestPlain1K))
	b.Run("short-turns", form(chatRequestTurns1K))
}
