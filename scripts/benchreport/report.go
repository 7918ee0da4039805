package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Report is the content of bench/results/<date>.json.
type Report struct {
	Date       string       `json:"date"`
	Commit     string       `json:"commit"`
	Go         string       `json:"go"`
	Run        RunInfo      `json:"run"`
	Machine    Machine      `json:"machine"`
	Packages   []PackageRun `json:"packages"`
	Benchmarks []Benchmark  `json:"benchmarks"`
}

// RunInfo records what the run selected, as `make bench` passed it.
type RunInfo struct {
	Bench     string `json:"bench,omitempty"`     // the -bench regular expression
	Packages  string `json:"packages,omitempty"`  // the package patterns
	Benchtime string `json:"benchtime,omitempty"` // -benchtime, when set
	Raw       string `json:"raw,omitempty"`       // the raw go test output the report was made from
}

// Failed reports whether a package or a benchmark of the run failed.
func (r Report) Failed() bool {
	for _, p := range r.Packages {
		if p.Status == "fail" {
			return true
		}
	}
	for _, b := range r.Benchmarks {
		if b.Status == "fail" {
			return true
		}
	}
	return false
}

// module is the common import path prefix shown nowhere in the markdown.
func (r Report) module() string {
	var paths []string
	for _, p := range r.Packages {
		if p.Package != "" {
			paths = append(paths, p.Package)
		}
	}
	return commonPrefix(paths)
}

// commonPrefix is the longest prefix ending in "/" shared by every path, "" for one path.
func commonPrefix(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	prefix := paths[0]
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		prefix = prefix[:i+1]
	} else {
		return ""
	}
	for _, p := range paths[1:] {
		for !strings.HasPrefix(p, prefix) {
			i := strings.LastIndexByte(strings.TrimSuffix(prefix, "/"), '/')
			if i < 0 {
				return ""
			}
			prefix = prefix[:i+1]
		}
	}
	return prefix
}

// shortPkg is a package's path without the module prefix, for the markdown.
func shortPkg(pkg, prefix string) string {
	if pkg == "" {
		return "(outside any package)"
	}
	if s := strings.TrimPrefix(pkg, prefix); s != "" && prefix != "" {
		return s
	}
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		return pkg[i+1:]
	}
	return pkg
}

// Markdown renders the whole report: the header, the benchmarks compared with a baseline,
// then every benchmark, package by package, with their logs.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks, %s\n\n", r.Date)
	r.header(&b)
	b.WriteString("\n## Compared with a baseline in the same run\n\n")
	r.comparedTable(&b)
	b.WriteString("\n## Every benchmark\n")
	prefix := r.module()
	for _, p := range r.Packages {
		var rows []Benchmark
		for _, bm := range r.Benchmarks {
			if bm.Package == p.Package {
				rows = append(rows, bm)
			}
		}
		if len(rows) == 0 && len(p.Output) == 0 && p.Status != "fail" {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n", shortPkg(p.Package, prefix))
		if p.Status == "fail" {
			b.WriteString("**The package failed**: its output is below.\n\n")
		}
		if len(rows) > 0 {
			b.WriteString("| benchmark | iterations | ns/op | B/op | allocs/op | figures | baseline | ratio |\n")
			b.WriteString("|---|---:|---:|---:|---:|---|---|---|\n")
			for _, bm := range rows {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
					cell("`"+bm.Name+"`"), iterations(bm), builtin(bm, "ns/op"), builtin(bm, "B/op"), builtin(bm, "allocs/op"),
					cell(figures(bm)), cell(r.baselineCell(bm)), cell(ratioCell(bm)))
			}
		}
		var logs []string
		for _, bm := range rows {
			for _, l := range bm.Log {
				logs = append(logs, bm.Name+": "+l)
			}
		}
		logs = append(logs, p.Output...)
		if len(logs) > 0 {
			b.WriteString("\n<details><summary>log</summary>\n\n```text\n")
			for _, l := range logs {
				b.WriteString(strings.ReplaceAll(l, "```", "'''") + "\n")
			}
			b.WriteString("```\n\n</details>\n")
		}
	}
	return b.String()
}

// ReadmeBlock is what README's "Performance" shows of the latest run: the header and the
// benchmarks compared with a baseline, with a link to the whole report.
func (r Report) ReadmeBlock(mdPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Latest `make bench`, %s ([every benchmark and its log](%s)):\n\n", r.Date, mdPath)
	r.header(&b)
	b.WriteString("\n")
	r.comparedTable(&b)
	return b.String()
}

// header writes the run's commit, toolchain, machine and selection as a list.
func (r Report) header(b *strings.Builder) {
	fmt.Fprintf(b, "- commit `%s`, %s\n", orUnknown(r.Commit), orUnknown(r.Go))
	fmt.Fprintf(b, "- machine: %s\n", r.Machine)
	sel := fmt.Sprintf("`-bench %s` over `%s`", orDefault(r.Run.Bench, "."), orDefault(r.Run.Packages, "./..."))
	if r.Run.Benchtime != "" {
		sel += fmt.Sprintf(", `-benchtime %s`", r.Run.Benchtime)
	}
	fmt.Fprintf(b, "- run: %s\n", sel)
	var ok, failed []string
	prefix := r.module()
	for _, p := range r.Packages {
		if p.Status == "fail" {
			failed = append(failed, shortPkg(p.Package, prefix))
		} else {
			ok = append(ok, shortPkg(p.Package, prefix))
		}
	}
	line := fmt.Sprintf("%d benchmarks in %d packages", len(r.Benchmarks), len(r.Packages))
	if len(failed) > 0 {
		line += fmt.Sprintf("; **failed: %s**", strings.Join(failed, ", "))
	}
	fmt.Fprintf(b, "- %s\n", line)
}

// comparedTable lists the benchmarks that have a baseline figure, a ratio or a paired
// baseline benchmark.
func (r Report) comparedTable(b *strings.Builder) {
	prefix := r.module()
	b.WriteString("| package | benchmark | ns/op | allocs/op | figures | baseline | ratio |\n")
	b.WriteString("|---|---|---:|---:|---|---|---|\n")
	n := 0
	for _, bm := range r.Benchmarks {
		if !compared(bm) {
			continue
		}
		n++
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			cell(shortPkg(bm.Package, prefix)), cell("`"+bm.Name+"`"), builtin(bm, "ns/op"), builtin(bm, "allocs/op"),
			cell(figures(bm)), cell(r.baselineCell(bm)), cell(ratioCell(bm)))
	}
	if n == 0 {
		b.WriteString("| — | no benchmark of this run reports a baseline | | | | | |\n")
	}
}

// compared reports whether a benchmark belongs in the comparison table.
func compared(bm Benchmark) bool {
	if bm.Baseline != "" {
		return true
	}
	for u := range bm.Metrics {
		if k := classify(u); k == kindBaseline || k == kindRatio {
			return true
		}
	}
	return false
}

// figures is the benchmark's own custom metrics, or its failure.
func figures(bm Benchmark) string {
	switch bm.Status {
	case "fail":
		return "**FAIL**"
	case "skip":
		return "skipped"
	}
	return metricList(bm.Metrics, kindOwn)
}

// baselineCell is the baseline figures of a benchmark and its paired baseline benchmark,
// with that benchmark's values of the units a ratio was computed for.
func (r Report) baselineCell(bm Benchmark) string {
	parts := []string{}
	if s := metricList(bm.Metrics, kindBaseline); s != "" {
		parts = append(parts, s)
	}
	if bm.Baseline != "" {
		name := bm.Baseline
		if top, _, _ := strings.Cut(bm.Name, "/"); strings.HasPrefix(name, top+"/") {
			name = strings.TrimPrefix(name, top+"/")
		}
		s := "`" + name + "`"
		for _, other := range r.Benchmarks {
			if other.Package != bm.Package || other.Name != bm.Baseline {
				continue
			}
			var vals []string
			for _, u := range slices.Sorted(maps.Keys(bm.Ratios)) {
				if v, ok := other.Metrics[u]; ok {
					vals = append(vals, num(v)+" "+u)
				}
			}
			if len(vals) > 0 {
				s += ": " + strings.Join(vals, ", ")
			}
			break
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// ratioCell is the benchmark's ratio metrics and the ratios computed against its pair.
func ratioCell(bm Benchmark) string {
	parts := []string{}
	if s := metricList(bm.Metrics, kindRatio); s != "" {
		parts = append(parts, s)
	}
	for _, u := range slices.Sorted(maps.Keys(bm.Ratios)) {
		parts = append(parts, "×"+num(bm.Ratios[u])+" "+u)
	}
	return strings.Join(parts, ", ")
}

// metricList is the metrics of one kind, "value unit" sorted by unit.
func metricList(m map[string]float64, kind unitKind) string {
	var out []string
	for _, u := range slices.Sorted(maps.Keys(m)) {
		if classify(u) == kind {
			out = append(out, num(m[u])+" "+u)
		}
	}
	return strings.Join(out, ", ")
}

func iterations(bm Benchmark) string {
	if bm.Status != "ok" {
		return ""
	}
	return num(float64(bm.Iterations))
}

func builtin(bm Benchmark, unit string) string {
	v, ok := bm.Metrics[unit]
	if !ok {
		return ""
	}
	return num(v)
}

// num formats a figure for people: whole numbers and figures from 1,000 up as integers with
// thousands separated, two decimals from 1, one from 100, four significant digits below 1.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000 || (v == math.Trunc(v) && math.Abs(v) < 1e15):
		return thousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	// Four significant digits below 1: a ratio of 0.9995 is not "1".
	digits := 3 - int(math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(v, 'f', min(digits, 12), 64)
}

// thousands puts commas into the integer digits of s.
func thousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
