//go:build !unix

package loadgen

import "time"

// raiseOpenFiles does nothing where there is no RLIMIT_NOFILE.
func raiseOpenFiles(int) error { return nil }

// cpuTime is not measured here: 0.
func cpuTime() time.Duration { return 0 }
