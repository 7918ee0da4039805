//go:build linux

package ingest_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readBenchCPU samples this process's CPU time (hub and generator) and the host's busy time.
func readBenchCPU() benchCPU {
	c := benchCPU{at: time.Now(), ok: true}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		c.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	} else {
		c.ok = false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		c.ok = false
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		c.ok = false
		return c
	}
	var busy, idle int64
	for i, f := range fields[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		switch i {
		case 3, 4: // idle, iowait
			idle += v
		case 8, 9: // guest time is already in user
		default:
			busy += v
		}
	}
	c.host = time.Duration(busy) * time.Second / 100 // USER_HZ
	return c
}

// benchLoadAvg is the 1-, 5- and 15-minute load average.
func benchLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
