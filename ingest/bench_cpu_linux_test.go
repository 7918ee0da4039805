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

// procTreeCPU is the CPU time of process pid and of its children (PostgreSQL: the postmaster
// and its backends, checkpointer, WAL writer, autovacuum).
func procTreeCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	var ticks int64
	found := false
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, cpu, ok := procStat(p)
		if ok && (p == pid || ppid == pid) {
			ticks += cpu
		}
		if ok && p == pid {
			ticks += exitedChildren(p) // backends and workers that have ended
			found = true
		}
	}
	return time.Duration(ticks) * time.Second / 100, found
}

// exitedChildren is the CPU ticks of pid's children that have ended (cutime + cstime).
func exitedChildren(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return cu + cs
}

// parentOf is the parent process id of pid, 0 when unknown.
func parentOf(pid int) int {
	ppid, _, ok := procStat(pid)
	if !ok {
		return 0
	}
	return ppid
}

// procStat reads the parent id and the user+system ticks of process pid.
func procStat(pid int) (ppid int, ticks int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, ut + st, true
}
