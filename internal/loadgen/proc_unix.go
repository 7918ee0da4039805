//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
	"time"
)

// raiseOpenFiles lifts the soft limit of open files to the hard limit and checks that need
// descriptors fit under it.
func raiseOpenFiles(need int) error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			r = want
		}
	}
	if r.Cur < uint64(need) {
		return fmt.Errorf("RLIMIT_NOFILE is %d (hard %d); %d connections need about %d: raise the hard limit (ulimit -Hn)", r.Cur, r.Max, need-fdSlack, need)
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
