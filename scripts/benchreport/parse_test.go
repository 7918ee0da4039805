package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The testdata files are real go test output of this repository's benchmarks:
//
//	acl.jsonl          go test -run '^$' -bench BenchmarkACL -benchtime 100x -benchmem -json ./hooks/
//	outbound.jsonl     DH_BENCH_JOBS=50 go test -run '^$' -bench BenchmarkOutbound/throughput/tiendanube -benchtime 1x -benchmem -json ./connectors/
//	outbound-text.txt  the same for woocommerce, 30 jobs, without -json
//	broker.jsonl       DH_BENCH_DRIVERS=20 DH_BENCH_SECONDS=2 go test -run '^$' -bench BenchmarkRealtimeWS -benchtime 1x -benchmem -json ./broker/
//	broker-tcp.jsonl   the same for BenchmarkRealtimeTCP, with Mosquitto installed
//	store.jsonl        go test -run '^$' -bench BenchmarkTx -benchtime 20x -benchmem -json ./internal/store/ (a result line split over two events)
//	verify.txt         go test -run '^$' -bench BenchmarkSchemeOnly -benchtime 1000x -benchmem ./ingest/verify/
//	fail.jsonl         DH_BENCH_SECONDS=abc go test -run '^$' -bench BenchmarkWebhookToMQTT -benchtime 1x -json ./internal/app/

func parseFile(t testing.TB, name string) Parsed {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	p, err := Parse(f)
	require.NoError(t, err)
	return p
}

func find(t testing.TB, bs []Benchmark, name string) Benchmark {
	t.Helper()
	for _, b := range bs {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no benchmark %s in %v", name, names(bs))
	return Benchmark{}
}

func names(bs []Benchmark) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestParseMicroBenchmarkJSON(t *testing.T) {
	p := parseFile(t, "acl.jsonl")
	require.Len(t, p.Packages, 1)
	assert.Equal(t, PackageRun{Package: "github.com/pilotx/dispatchhub/hooks", Status: "ok", Elapsed: 0.026, CPU: "AMD EPYC"}, p.Packages[0])
	assert.Equal(t, []string{"BenchmarkACL/driver-publish", "BenchmarkACL/dispatcher-delivery"}, names(p.Benchmarks))
	b := p.Benchmarks[0]
	assert.Equal(t, "github.com/pilotx/dispatchhub/hooks", b.Package)
	assert.Equal(t, 2, b.Procs)
	assert.Equal(t, int64(100), b.Iterations)
	assert.Equal(t, "ok", b.Status)
	assert.Equal(t, map[string]float64{"ns/op": 29.55, "B/op": 0, "allocs/op": 0}, b.Metrics)
	assert.Empty(t, b.Log)
}

func TestParseCustomMetricsAndLogsJSON(t *testing.T) {
	p := parseFile(t, "outbound.jsonl")
	b := find(t, p.Benchmarks, "BenchmarkOutbound/throughput/tiendanube")
	assert.Equal(t, int64(1), b.Iterations)
	assert.Equal(t, map[string]float64{
		"ns/op": 1563785041, "calls/job": 1, "direct-jobs/s": 9244, "jobs/s": 271.6, "ratio": 0.02938,
		"B/op": 8070056, "allocs/op": 65476,
	}, b.Metrics)
	require.Len(t, b.Log, 1)
	assert.True(t, strings.HasPrefix(b.Log[0], "tiendanube: 50 statuses in 184ms: 272 jobs/s"), b.Log[0])
	assert.Empty(t, p.Packages[0].Output, "every line has an owner")
}

func TestParseResultSplitOverEvents(t *testing.T) {
	p := parseFile(t, "store.jsonl")
	assert.Equal(t, []string{"BenchmarkTx/baseline-plain-tx", "BenchmarkTx/tenant-tx", "BenchmarkTx/tenant-tx-outbox-enqueue"}, names(p.Benchmarks))
	b := p.Benchmarks[0]
	assert.Equal(t, int64(20), b.Iterations)
	assert.Equal(t, 709164.0, b.Metrics["ns/op"])
	assert.Equal(t, 10.0, b.Metrics["allocs/op"])
}

func TestParseScenarioWithLogsJSON(t *testing.T) {
	p := parseFile(t, "broker.jsonl")
	require.Len(t, p.Benchmarks, 2)
	hub := find(t, p.Benchmarks, "BenchmarkRealtimeWS/dispatchhub/drivers=20")
	assert.InDelta(t, 2.334, hub.Metrics["ratio-p99"], 1e-9)
	assert.InDelta(t, 20.0, hub.Metrics["held"], 1e-9)
	require.Len(t, hub.Log, 3)
	assert.True(t, strings.HasPrefix(hub.Log[0], "machine: 2 CPUs"))
	assert.True(t, strings.HasPrefix(hub.Log[1], "DISTURBED: "))
	bare := find(t, p.Benchmarks, "BenchmarkRealtimeWS/bare/drivers=20")
	assert.Len(t, bare.Log, 2)
}

func TestParsePlainText(t *testing.T) {
	p := parseFile(t, "verify.txt")
	require.Len(t, p.Packages, 1)
	assert.Equal(t, "github.com/pilotx/dispatchhub/ingest/verify", p.Packages[0].Package)
	assert.Equal(t, "ok", p.Packages[0].Status)
	b := find(t, p.Benchmarks, "BenchmarkSchemeOnly/baseline-crypto-hmac-1KiB")
	assert.Equal(t, 2, b.Procs)
	assert.Equal(t, "github.com/pilotx/dispatchhub/ingest/verify", b.Package)
	assert.Equal(t, map[string]float64{"ns/op": 2270, "MB/s": 451.11, "B/op": 512, "allocs/op": 6}, b.Metrics)

	// Without -v, the logs follow the result under "--- BENCH:".
	p = parseFile(t, "outbound-text.txt")
	b = find(t, p.Benchmarks, "BenchmarkOutbound/throughput/woocommerce")
	require.Len(t, b.Log, 1)
	assert.True(t, strings.HasPrefix(b.Log[0], "woocommerce: 30 statuses"), b.Log[0])
	assert.InDelta(t, 0.1157, b.Metrics["ratio"], 1e-9)
}

func TestParseFailedBenchmark(t *testing.T) {
	p := parseFile(t, "fail.jsonl")
	require.Len(t, p.Packages, 1)
	assert.Equal(t, "fail", p.Packages[0].Status)
	b := find(t, p.Benchmarks, "BenchmarkWebhookToMQTT")
	assert.Equal(t, "fail", b.Status)
	require.Len(t, b.Log, 1)
	assert.Contains(t, b.Log[0], "DH_BENCH_SECONDS: whole seconds")
	assert.Contains(t, p.Packages[0].Output, "exit status 1")
	assert.True(t, Report{Packages: p.Packages, Benchmarks: p.Benchmarks}.Failed())
}

// TestParseVerboseTextAndStderr covers what no JSON sample has: `go test -v -bench` text
// (logs before the result, a skipped and a failed sub-benchmark, multi-line logs, a
// benchmark whose name ends in digits) with stderr merged in.
func TestParseVerboseTextAndStderr(t *testing.T) {
	out := strings.Join([]string{
		"go: downloading example.com/x v1.0.0",
		"goos: linux",
		"pkg: example.com/m/a",
		"cpu: Some CPU",
		"=== RUN   BenchmarkA",
		"BenchmarkA",
		"=== RUN   BenchmarkA/size-1024",
		"BenchmarkA/size-1024",
		"    a_test.go:10: first line",
		"        continued",
		"BenchmarkA/size-1024-4   \t     500\t      2000 ns/op\t       3.5 p99-ms",
		"=== RUN   BenchmarkA/skipped",
		"    a_test.go:20: no server",
		"--- SKIP: BenchmarkA/skipped",
		"=== RUN   BenchmarkA/broken",
		"    a_test.go:30: boom",
		"--- FAIL: BenchmarkA/broken",
		"--- FAIL: BenchmarkA",
		"FAIL",
		"FAIL\texample.com/m/a\t1.2s",
		"",
	}, "\n")
	p, err := Parse(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, p.Packages, 2, "the stderr line before pkg: belongs to no package")
	a := p.Packages[1]
	assert.Equal(t, "example.com/m/a", a.Package)
	assert.Equal(t, "fail", a.Status)
	assert.Equal(t, "Some CPU", a.CPU)
	assert.Equal(t, []string{"BenchmarkA/size-1024", "BenchmarkA/broken", "BenchmarkA/skipped"}, names(p.Benchmarks))
	size := p.Benchmarks[0]
	assert.Equal(t, 4, size.Procs)
	assert.Equal(t, []string{"first line\ncontinued"}, size.Log)
	assert.Equal(t, "fail", p.Benchmarks[1].Status)
	assert.Equal(t, []string{"boom"}, p.Benchmarks[1].Log)
	assert.Equal(t, "skip", p.Benchmarks[2].Status)
}

func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	require.NoError(f, err)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", e.Name()))
		require.NoError(f, err)
		f.Add(string(data))
	}
	f.Add("BenchmarkX-2\t1\t5 a|b\n--- FAIL: BenchmarkY\n    y_test.go:1: `|`\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Parse(strings.NewReader(in))
		if err != nil {
			return // a line longer than the scanner's limit
		}
		compare(p.Benchmarks)
		for _, b := range p.Benchmarks {
			if !strings.HasPrefix(b.Name, "Benchmark") {
				t.Fatalf("benchmark name %q", b.Name)
			}
			if b.Status != "ok" && b.Status != "fail" && b.Status != "skip" {
				t.Fatalf("status %q", b.Status)
			}
		}
		md := Report{Date: "2026-01-02", Packages: p.Packages, Benchmarks: p.Benchmarks}.Markdown()
		fenced := false
		for _, line := range strings.Split(md, "\n") {
			if strings.HasPrefix(line, "```") {
				fenced = !fenced
				continue
			}
			if !fenced && strings.HasPrefix(line, "| ") && !strings.HasSuffix(line, " |") {
				t.Fatalf("broken table row %q", line)
			}
		}
		if fenced {
			t.Fatal("a log block is not closed")
		}
	})
}
