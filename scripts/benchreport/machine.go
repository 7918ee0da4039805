package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what the run ran on. Fields that cannot be read are left empty.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Mem    string `json:"mem"`
	Kernel string `json:"kernel,omitempty"`
	// StealPercent is the share of CPU time the hypervisor gave to other guests, over
	// StealWindow: "run" (between the /proc/stat snapshot taken before the run and the end of
	// it) or "since boot" (no snapshot). Absent when /proc/stat cannot be read.
	StealPercent *float64 `json:"steal_percent,omitempty"`
	StealWindow  string   `json:"steal_window,omitempty"`
}

// String is the machine on one line, as the markdown report and README show it.
func (m Machine) String() string {
	s := fmt.Sprintf("%d cores (%s), %s RAM", m.Cores, orUnknown(m.CPU), orUnknown(m.Mem))
	if m.Kernel != "" {
		s += ", Linux " + m.Kernel
	}
	if m.StealPercent != nil {
		s += fmt.Sprintf(", %.1f %% of the CPU stolen by the hypervisor (%s)", *m.StealPercent, m.StealWindow)
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// readMachine reads /proc. cpuFallback is the "cpu:" line go test printed, used when
// /proc/cpuinfo has no model name. statBefore is a copy of /proc/stat taken when the run
// started, or "".
func readMachine(cpuFallback, statBefore string) Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: cpuFallback}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) >= 1 {
					if kib, err := strconv.ParseFloat(f[0], 64); err == nil {
						m.Mem = fmt.Sprintf("%.1f GiB", kib/(1<<20))
					}
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		now, ok := cpuTimes(string(data))
		if ok {
			window := "since boot"
			var before cpuSample
			if statBefore != "" {
				if old, err := os.ReadFile(statBefore); err == nil {
					if b, ok := cpuTimes(string(old)); ok && b.total <= now.total {
						before, window = b, "run"
					}
				}
			}
			if total := now.total - before.total; total > 0 {
				p := 100 * (now.steal - before.steal) / total
				m.StealPercent, m.StealWindow = &p, window
			}
		}
	}
	return m
}

// cpuSample is the machine-wide CPU time of /proc/stat's "cpu" line, in clock ticks.
type cpuSample struct{ total, steal float64 }

// cpuTimes reads the "cpu" line: user nice system idle iowait irq softirq steal [guest
// guest_nice]; guest time is already counted in user, so the total is the first eight.
func cpuTimes(stat string) (cpuSample, bool) {
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var s cpuSample
		for i := 1; i <= 8; i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return cpuSample{}, false
			}
			s.total += v
			if i == 8 {
				s.steal = v
			}
		}
		return s, true
	}
	return cpuSample{}, false
}
