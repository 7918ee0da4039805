//go:build !linux

package ingest_test

import "time"

func readBenchCPU() benchCPU { return benchCPU{at: time.Now()} }

func benchLoadAvg() string { return "unknown" }

func procTreeCPU(int) (time.Duration, bool) { return 0, false }

func parentOf(int) int { return 0 }
