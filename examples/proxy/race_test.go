//go:build race

package main

// raceEnabled reports whether the test binary (and so the proxy it
// re-executes) runs under the race detector.
const raceEnabled = true
