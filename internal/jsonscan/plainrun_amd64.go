//go:build !purego

package jsonscan

// vectorLoop says plainRunVec is the assembly version.
const vectorLoop = true

// plainRunVec returns the index of the first byte at or after s[i] that
// needs a look, scanning sixteen bytes at a time with SSE2 (part of every
// amd64 CPU); when fewer than sixteen bytes are left before one is found,
// it returns where they start. It needs i >= 0.
//
//go:noescape
func plainRunVec(s []byte, i int) int
