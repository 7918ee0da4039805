package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	for unit, want := range map[string]unitKind{
		"ns/op": kindBuiltin, "B/op": kindBuiltin, "allocs/op": kindBuiltin,
		"MB/s": kindOwn, "jobs/s": kindOwn, "p99-ms": kindOwn, "calls/job": kindOwn, "held": kindOwn,
		"created-mqtt-p99-ms": kindOwn, "offer-p99-ms": kindOwn, "edge-sustained-rps": kindOwn,
		"ratio": kindRatio, "p99-ratio": kindRatio, "ratio-cpu": kindRatio, "x-brute": kindRatio,
		"x_baseline": kindRatio, "drain-x-baseline": kindRatio, "solve/greedy": kindRatio,
		"batch-lower-%": kindRatio, "greedy-extra-%": kindRatio,
		"direct-jobs/s": kindBaseline, "woo-alone-p99-ms": kindBaseline, "baseline_events/s": kindBaseline,
		"baseline-paced-p99-ms": kindBaseline, "greedy-ns/op": kindBaseline, "greedy-unmatched": kindBaseline,
		"nearest-pickup-m": kindBaseline, "fiber-sustained-rps": kindBaseline,
		"batch-busy-%": kindOwn, "broker-cpu-%": kindOwn,
	} {
		assert.Equal(t, want, classify(unit), unit)
	}
}

func TestComparePairs(t *testing.T) {
	bs := []Benchmark{
		{Package: "s", Name: "BenchmarkTx/baseline-plain-tx", Status: "ok", Metrics: map[string]float64{"ns/op": 400}},
		{Package: "s", Name: "BenchmarkTx/tenant-tx", Status: "ok", Metrics: map[string]float64{"ns/op": 500}},
		{Package: "g", Name: "BenchmarkNearest/drivers=1000/k=1/brute", Status: "ok", Metrics: map[string]float64{"ns/op": 10}},
		{Package: "g", Name: "BenchmarkNearest/drivers=1000/k=1/index", Status: "ok", Metrics: map[string]float64{"ns/op": 5, "x-brute": 2}},
		{Package: "g", Name: "BenchmarkNearest/drivers=1000/k=8/index", Status: "ok", Metrics: map[string]float64{"ns/op": 5}},
		{Package: "i", Name: "BenchmarkIngest/rate=200", Status: "ok", Metrics: map[string]float64{"p99-ms": 6, "rps": 200, "errors": 0}},
		{Package: "i", Name: "BenchmarkIngest/max-sustained", Status: "ok", Metrics: map[string]float64{"sustained-rps": 2000, "p99-ms": 50}},
		{Package: "i", Name: "BenchmarkIngest/baseline-fiber/rate=200", Status: "ok", Metrics: map[string]float64{"p99-ms": 2, "rps": 200, "errors": 0}},
		{Package: "i", Name: "BenchmarkIngest/baseline-fiber/max-sustained", Status: "ok", Metrics: map[string]float64{"sustained-rps": 8000, "p99-ms": 40}},
		{Package: "i", Name: "BenchmarkIngest/summary", Status: "ok", Metrics: map[string]float64{"edge-sustained-rps": 2000, "fiber-sustained-rps": 8000}},
		{Package: "b", Name: "BenchmarkRealtimeWS/bare/drivers=20", Status: "ok", Metrics: map[string]float64{"p99-ms": 1}},
		{Package: "b", Name: "BenchmarkRealtimeWS/dispatchhub/drivers=20", Status: "ok", Metrics: map[string]float64{"p99-ms": 2, "ratio-p99": 2}},
		{Package: "b", Name: "BenchmarkRealtimeWS/dispatchhub/drivers=40", Status: "ok", Metrics: map[string]float64{"p99-ms": 2}},
		{Package: "b", Name: "BenchmarkRealtimeTCP/bare/drivers=20", Status: "ok", Metrics: map[string]float64{"p99-ms": 1}},
		{Package: "b", Name: "BenchmarkRealtimeTCP/mosquitto/drivers=20", Status: "ok", Metrics: map[string]float64{"p99-ms": 3, "ratio-p99": 3}},
		{Package: "b", Name: "BenchmarkRealtimeTCP/dispatchhub/drivers=20", Status: "ok", Metrics: map[string]float64{"p99-ms": 2, "ratio-p99": 2, "ratio-p99-mosquitto": 0.67}},
		{Package: "b", Name: "BenchmarkRealtimeTCP/bare/drivers=40", Status: "ok", Metrics: map[string]float64{"p99-ms": 1}},
		{Package: "b", Name: "BenchmarkRealtimeTCP/mosquitto/drivers=40", Status: "skip"},
		{Package: "b", Name: "BenchmarkRealtimeTCP/dispatchhub/drivers=40", Status: "ok", Metrics: map[string]float64{"p99-ms": 2, "ratio-p99": 2}},
		{Package: "other", Name: "BenchmarkTx/tenant-tx", Status: "ok", Metrics: map[string]float64{"ns/op": 500}},
	}
	compare(bs)
	got := map[string]Benchmark{}
	for _, b := range bs {
		got[b.Package+" "+b.Name] = b
	}
	tx := got["s BenchmarkTx/tenant-tx"]
	assert.Equal(t, "BenchmarkTx/baseline-plain-tx", tx.Baseline)
	assert.Equal(t, map[string]float64{"ns/op": 1.25}, tx.Ratios)

	idx := got["g BenchmarkNearest/drivers=1000/k=1/index"]
	assert.Equal(t, "BenchmarkNearest/drivers=1000/k=1/brute", idx.Baseline)
	assert.Nil(t, idx.Ratios, "it reports its own ratio")
	assert.Empty(t, got["g BenchmarkNearest/drivers=1000/k=8/index"].Baseline, "no brute run for k=8")

	rate := got["i BenchmarkIngest/rate=200"]
	assert.Equal(t, "BenchmarkIngest/baseline-fiber/rate=200", rate.Baseline)
	assert.Equal(t, map[string]float64{"p99-ms": 3, "rps": 1}, rate.Ratios)
	max := got["i BenchmarkIngest/max-sustained"]
	assert.Equal(t, "BenchmarkIngest/baseline-fiber/max-sustained", max.Baseline)
	assert.Equal(t, map[string]float64{"sustained-rps": 0.25, "p99-ms": 1.25}, max.Ratios)
	assert.Empty(t, got["i BenchmarkIngest/summary"].Baseline)

	hub := got["b BenchmarkRealtimeWS/dispatchhub/drivers=20"]
	assert.Equal(t, "BenchmarkRealtimeWS/bare/drivers=20", hub.Baseline)
	assert.Nil(t, hub.Ratios)
	assert.Empty(t, got["b BenchmarkRealtimeWS/dispatchhub/drivers=40"].Baseline)
	// Mosquitto and the hub over TCP both have the bare broker as their baseline; Mosquitto
	// is not one (the hub's ratio-*-mosquitto metrics compare them), skipped or not.
	for name, bare := range map[string]string{
		"mosquitto/drivers=20": "bare/drivers=20", "dispatchhub/drivers=20": "bare/drivers=20", "dispatchhub/drivers=40": "bare/drivers=40",
	} {
		b := got["b BenchmarkRealtimeTCP/"+name]
		assert.Equal(t, "BenchmarkRealtimeTCP/"+bare, b.Baseline, name)
		assert.Nil(t, b.Ratios, name)
	}
	assert.Empty(t, got["b BenchmarkRealtimeTCP/mosquitto/drivers=40"].Baseline, "skipped")
	assert.Empty(t, got["other BenchmarkTx/tenant-tx"].Baseline, "pairs stay within a package")
	assert.Empty(t, got["s BenchmarkTx/baseline-plain-tx"].Baseline)
}

func TestMarkdownOfRealRuns(t *testing.T) {
	var rep Report
	for _, name := range []string{"acl.jsonl", "store.jsonl", "broker.jsonl", "outbound.jsonl", "fail.jsonl"} {
		p := parseFile(t, name)
		rep.Packages = append(rep.Packages, p.Packages...)
		rep.Benchmarks = append(rep.Benchmarks, p.Benchmarks...)
	}
	compare(rep.Benchmarks)
	rep.Date, rep.Commit, rep.Go = "2026-11-26", "abc1234", "go1.26.8"
	rep.Machine = Machine{CPU: "AMD EPYC", Cores: 2, Mem: "23.5 GiB"}
	assertContainsAll(t, rep.Markdown(),
		"# Benchmarks, 2026-11-26",
		"- commit `abc1234`, go1.26.8",
		"- machine: 2 cores (AMD EPYC), 23.5 GiB RAM",
		"**failed: internal/app**",
		"| internal/store | `BenchmarkTx/tenant-tx` | 820,649 | 18 |  | `baseline-plain-tx`: 709,164 ns/op | ×1.16 ns/op |",
		"| broker | `BenchmarkRealtimeWS/dispatchhub/drivers=20` |",
		"| `bare/drivers=20` | 2.31 ratio-cpu, 0.9995 ratio-delivered, 2.33 ratio-p99 |",
		"| connectors | `BenchmarkOutbound/throughput/tiendanube` | 1,563,785,041 | 65,476 | 1 calls/job, 271.6 jobs/s | 9,244 direct-jobs/s | 0.02938 ratio |",
		"### hooks",
		"| `BenchmarkACL/driver-publish` | 100 | 29.55 | 0 | 0 |  |  |  |",
		"| `BenchmarkWebhookToMQTT` |  |  |  |  | **FAIL** |  |  |",
		"BenchmarkRealtimeWS/dispatchhub/drivers=20: DISTURBED: other processes used 42% of a core",
		"**The package failed**",
	)
	block := rep.ReadmeBlock("bench/results/2026-11-26.md")
	assert.True(t, strings.HasPrefix(block, "Latest `make bench`, 2026-11-26 ([every benchmark and its log](bench/results/2026-11-26.md)):"))
	assert.NotContains(t, block, "### hooks")
}

func TestMarkdownOfTheTCPRunWithMosquitto(t *testing.T) {
	p := parseFile(t, "broker-tcp.jsonl")
	require.Equal(t, []string{"BenchmarkRealtimeTCP/bare/drivers=20", "BenchmarkRealtimeTCP/mosquitto/drivers=20",
		"BenchmarkRealtimeTCP/dispatchhub/drivers=20"}, names(p.Benchmarks))
	compare(p.Benchmarks)
	mosq := find(t, p.Benchmarks, "BenchmarkRealtimeTCP/mosquitto/drivers=20")
	assert.Equal(t, "BenchmarkRealtimeTCP/bare/drivers=20", mosq.Baseline)
	assert.NotContains(t, mosq.Metrics, "heap-KiB/conn", "not measured in another process")
	hub := find(t, p.Benchmarks, "BenchmarkRealtimeTCP/dispatchhub/drivers=20")
	assert.Equal(t, "BenchmarkRealtimeTCP/bare/drivers=20", hub.Baseline)
	assert.Equal(t, kindRatio, classify("ratio-p99-mosquitto"))

	rep := Report{Date: "2026-11-27", Packages: p.Packages, Benchmarks: p.Benchmarks}
	md := rep.Markdown()
	assertContainsAll(t, md,
		"| broker | `BenchmarkRealtimeTCP/mosquitto/drivers=20` | 3,957,793,992 | 4,373 | 0 broker-cpu-%, 10.52 delivered/s, 0 dup, 20 held, 0.7619 idle-rss-KiB/conn, 0 lost, 1.43 other-cpu-%, 0.6963 p50-ms, 4.34 p99-ms | `bare/drivers=20` | 0 ratio-cpu, 1.00 ratio-delivered, 1.13 ratio-p99 |",
		"| broker | `BenchmarkRealtimeTCP/dispatchhub/drivers=20` |",
		"| `bare/drivers=20` | 2.46 ratio-cpu, 0 ratio-cpu-mosquitto, 1 ratio-delivered, 0.9997 ratio-delivered-mosquitto, 0.9307 ratio-p99, 0.8259 ratio-p99-mosquitto |",
		"BenchmarkRealtimeTCP/mosquitto/drivers=20: mosquitto version 2.0.11",
		"idle per connection: RSS 0.8 KiB; broker dropped n/a; vs bare:",
	)
	assert.NotContains(t, md, "| broker | `BenchmarkRealtimeTCP/bare/drivers=20`", "the baseline is no row of the comparison table")
}

// assertContainsAll checks that text contains each of wants.
func assertContainsAll(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		assert.Contains(t, text, want)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", 20: "20", 1563785041: "1,563,785,041", 29.55: "29.55", 271.64: "271.6",
		0.9995: "0.9995", 0.02938: "0.02938", 1.157: "1.16", -1234.4: "-1,234", 999.94: "999.9",
	} {
		assert.Equal(t, want, num(v), "%v", v)
	}
}

func TestReplaceBlock(t *testing.T) {
	text := "# T\n\n" + readmeBegin + "\nold\n" + readmeEnd + "\nafter\n"
	got, err := replaceBlock(text, "new\n")
	require.NoError(t, err)
	assert.Equal(t, "# T\n\n"+readmeBegin+"\nnew\n"+readmeEnd+"\nafter\n", got)

	_, err = replaceBlock("no markers", "x")
	assert.Error(t, err)
	_, err = replaceBlock(readmeEnd+"\n"+readmeBegin, "x")
	assert.Error(t, err)
}

func TestRunWritesReportsAndReadme(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	in, err := os.ReadFile(filepath.Join("testdata", "store.jsonl"))
	require.NoError(t, err)
	raw := filepath.Join(out, "raw", "run.jsonl")
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"-out", out, "-date", "2026-11-26", "-commit", "abc1234", "-raw", raw,
		"-bench", "BenchmarkTx", "-packages", "./internal/store/"}, bytes.NewReader(in), &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), filepath.Join(out, "2026-11-26.json"))
	assert.Contains(t, stderr.String(), "BenchmarkTx/tenant-tx-2", "progress is echoed")
	assert.NotContains(t, stderr.String(), "=== RUN")

	copied, err := os.ReadFile(raw)
	require.NoError(t, err)
	assert.Equal(t, in, copied)

	data, err := os.ReadFile(filepath.Join(out, "2026-11-26.json"))
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, "2026-11-26", rep.Date)
	assert.Equal(t, "abc1234", rep.Commit)
	assert.Equal(t, RunInfo{Bench: "BenchmarkTx", Packages: "./internal/store/", Raw: raw}, rep.Run)
	assert.Positive(t, rep.Machine.Cores)
	require.Len(t, rep.Benchmarks, 3)
	assert.Equal(t, "BenchmarkTx/baseline-plain-tx", rep.Benchmarks[1].Baseline)
	md, err := os.ReadFile(filepath.Join(out, "2026-11-26.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "- run: `-bench BenchmarkTx` over `./internal/store/`")

	readme := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("x\n"+readmeBegin+"\n"+readmeEnd+"\ny\n"), 0o644))
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"-readme", readme, "-out", out}, nil, &stdout, &stderr))
	text, err := os.ReadFile(readme)
	require.NoError(t, err)
	assert.Contains(t, string(text), "([every benchmark and its log](results/2026-11-26.md))")
	assert.Contains(t, string(text), "`BenchmarkTx/tenant-tx`")
	assert.True(t, strings.HasSuffix(string(text), readmeEnd+"\ny\n"))
}

func TestRunFailsAfterWritingWhenABenchmarkFailed(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-in", filepath.Join("testdata", "fail.jsonl"), "-out", out, "-date", "2026-11-26", "-commit", "x"},
		nil, &stdout, &stderr)
	require.ErrorIs(t, err, errFailed)
	_, statErr := os.Stat(filepath.Join(out, "2026-11-26.md"))
	assert.NoError(t, statErr)

	err = run(context.Background(), []string{"-out", out}, strings.NewReader(""), &stdout, &stderr)
	assert.ErrorContains(t, err, "no go test output")
	err = run(context.Background(), []string{"-date", "26/11/2026"}, strings.NewReader(""), &stdout, &stderr)
	assert.ErrorContains(t, err, "-date")
}

func TestMachineStealOverTheRun(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat on this system") // the report then has no steal figure
	}
	before := filepath.Join(t.TempDir(), "stat")
	require.NoError(t, os.WriteFile(before, []byte("cpu  0 0 0 0 0 0 0 0 0 0\n"), 0o644))
	m := readMachine("fallback", before)
	require.NotNil(t, m.StealPercent)
	assert.Equal(t, "run", m.StealWindow)
	assert.GreaterOrEqual(t, *m.StealPercent, 0.0)
	m = readMachine("fallback", "")
	assert.Equal(t, "since boot", m.StealWindow)

	s, ok := cpuTimes("cpu  10 0 10 70 0 0 0 10 5 0\ncpu0 1 1 1 1 1 1 1 1\n")
	require.True(t, ok)
	assert.Equal(t, cpuSample{total: 100, steal: 10}, s)
}

func TestPlainTextPairWithThroughput(t *testing.T) {
	p := parseFile(t, "verify.txt")
	compare(p.Benchmarks)
	b := find(t, p.Benchmarks, "BenchmarkSchemeOnly/hmac-sha256-base64-1KiB")
	assert.Equal(t, "BenchmarkSchemeOnly/baseline-crypto-hmac-1KiB", b.Baseline)
	assert.InDelta(t, 1477.0/2270.0, b.Ratios["ns/op"], 1e-9, "MB/s from b.SetBytes keeps it a micro-benchmark")
}
