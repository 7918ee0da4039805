//go:build race

package matching

// The race detector adds allocations of its own, so allocation counts are only asserted
// without it.
const raceEnabled = true
