//go:build race

package geo

// The race detector makes sync.Pool drop items at random, so allocation counts are only
// asserted without it; `make test` runs the allocation tests in a second, race-free pass.
const raceEnabled = true
