//go:build linux

package jsonscan

import (
	"os"
	"syscall"
	"testing"
)

// TestPlainTextGuardPage runs the scanners over strings that end where a
// page without access begins, so that reading one byte past the end
// crashes the test rather than passing unseen.
func TestPlainTextGuardPage(t *testing.T) {
	size := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 2*size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
		t.Skip("mprotect:", err)
	}
	page := mem[:size]
	for i := range page {
		page[i] = 'a' + byte(i%26)
	}
	for n := 0; n <= 100; n++ {
		s := page[size-n : size : size]
		for i := 0; i <= n; i++ {
			for p := i - 1; p < n; p++ {
				if p >= i {
					s[p] = '"'
				}
				if got, want := PlainText(s, i), PlainRun(s, i); got != want {
					t.Fatalf("n=%d from %d, quote at %d: PlainText = %d, PlainRun = %d", n, i, p, got, want)
				}
				if p >= i {
					s[p] = 'a' + byte((size-n+p)%26)
				}
			}
		}
	}
}
