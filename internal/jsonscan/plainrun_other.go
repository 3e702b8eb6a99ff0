//go:build !amd64 || purego

package jsonscan

// vectorLoop says plainRunVec is the assembly version.
const vectorLoop = false

// plainRunVec is PlainRun on platforms without a vector version.
func plainRunVec(s []byte, i int) int { return PlainRun(s, i) }
