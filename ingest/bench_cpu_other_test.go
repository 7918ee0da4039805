//go:build !linux

package ingest_test

import "time"

func readBenchCPU() benchCPU { return benchCPU{at: time.Now()} }

func benchLoadAvg() string { return "unknown" }
