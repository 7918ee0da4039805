// Command benchreport turns the output of `go test -bench` into the committed benchmark
// results: bench/results/<date>.json and bench/results/<date>.md. `make bench` runs it.
//
//	go test -p 1 -run '^$' -bench . -benchmem -json ./... | benchreport [-raw FILE] [-out bench/results]
//	benchreport -in FILE [-out bench/results] [-date 2026-11-26] [-commit abc1234] [-cpustat FILE]
//	benchreport -readme README.md [-out bench/results]
//
// The input is test2json events (`go test -json`), plain `go test -bench` text, or both mixed
// (stderr merged into stdout). With -raw, the input is copied to FILE as it arrives and the
// results and the benchmarks' logs are echoed to stderr, so that a long run shows progress.
// -cpustat names a copy of /proc/stat taken when the run started: the machine's steal time
// is then measured over the run rather than since boot. -bench and -packages record what the
// run selected. The exit status is 1 when a package failed or a benchmark failed; the files
// are written anyway.
//
// With -readme, nothing is read from stdin: the newest <date>.json in -out is rendered into
// README.md between the lines "<!-- bench:latest:begin -->" and "<!-- bench:latest:end -->".
//
// # Baselines and ratios
//
// Each benchmark of this repository measures its baseline in the same run, in one of two
// ways, and the report finds both by name:
//
//  1. Metrics. A custom unit (b.ReportMetric) is split into words at '-', '_' and '/'.
//     It is a ratio when a word is "ratio" or "x" (ratio, p99-ratio, ratio-p99, x-brute,
//     x_baseline, drain-x-baseline), when it is "A/B" with B a baseline word (solve/greedy),
//     or when it ends in "%" and has a word among lower, higher, extra, faster, slower, more,
//     less (batch-lower-%, greedy-extra-%). Otherwise it is a baseline figure when a word is
//     one of baseline, bare, brute, direct, alone, fiber, greedy, nearest (direct-jobs/s,
//     woo-alone-p99-ms, baseline-events/s, greedy-ns/op, nearest-pickup-m, fiber-sustained-rps).
//     Every other unit is the benchmark's own figure.
//
//  2. Sibling benchmarks. A benchmark whose name has a path element that is "bare" or "brute"
//     or starts with "baseline" is a baseline benchmark; removing that element gives its key.
//     Another benchmark of the same package pairs with it when its name equals the key (the
//     baseline element was inserted: BenchmarkIngest/rate=200 and
//     BenchmarkIngest/baseline-fiber/rate=200) or when removing its element at the same
//     position gives the key (the element was substituted: BenchmarkRealtimeWS/dispatchhub/
//     drivers=5000 and BenchmarkRealtimeWS/bare/drivers=5000; BenchmarkRealtimeTCP/mosquitto/
//     drivers=5000 and BenchmarkRealtimeTCP/dispatchhub/drivers=5000, both with
//     BenchmarkRealtimeTCP/bare/drivers=5000; BenchmarkTx/tenant-tx and
//     BenchmarkTx/baseline-plain-tx; BenchmarkNearest/drivers=1000/k=1/index and .../brute).
//     An inserted match wins over a substituted one. For a pair, the report computes
//     ours/baseline, unless the benchmark reports a ratio metric of its own (rule 1): for
//     ns/op when both report ns/op and neither reports a custom unit besides MB/s
//     (micro-benchmarks),
//     otherwise for every custom unit both report that names a p99 or a rate (ends in "/s" or
//     "rps").
//
// A benchmark compared with a second sibling reports that comparison as ratio metrics of its
// own (rule 1) named after it: BenchmarkRealtimeTCP/dispatchhub/drivers=5000 has ratio-p99
// (to bare) and ratio-p99-mosquitto (to Mosquitto); its baseline is the bare one.
//
// In the JSON, each benchmark's "baseline" names its paired baseline benchmark and "ratios"
// holds the computed ratios; the metrics are copied as reported. In the markdown, the
// "baseline" column shows the baseline figures and the paired benchmark, and the "ratio"
// column the ratio metrics and the computed ratios.
//
// Not covered by the rule: BenchmarkWebhookToMQTT and BenchmarkOrderToOffer (internal/app)
// name their baseline in their log line ("ack (baseline)", "OrderCreated at a dispatcher
// (baseline)"): ack-p99-ms and created-mqtt-p99-ms are shown as their own figures, and the
// logs are in the report.
package main
