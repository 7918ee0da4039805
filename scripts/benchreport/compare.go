package main

import (
	"slices"
	"strings"
)

// unitKind classifies a metric's unit for the report: see "Baselines and ratios" in doc.go.
type unitKind int

const (
	kindOwn      unitKind = iota // the benchmark's own figure
	kindBuiltin                  // ns/op, B/op, allocs/op: columns of their own
	kindBaseline                 // a figure of the baseline measured in the same run
	kindRatio                    // a comparison with the baseline
)

var (
	baselineWords   = []string{"baseline", "bare", "brute", "direct", "alone", "fiber", "greedy", "nearest"}
	comparisonWords = []string{"lower", "higher", "extra", "faster", "slower", "more", "less"}
	builtinUnits    = []string{"ns/op", "B/op", "allocs/op"}
)

// classify applies rule 1 of doc.go to a unit.
func classify(unit string) unitKind {
	if slices.Contains(builtinUnits, unit) {
		return kindBuiltin
	}
	words := strings.FieldsFunc(unit, func(r rune) bool { return r == '-' || r == '_' || r == '/' })
	for _, w := range words {
		if w == "ratio" || w == "x" {
			return kindRatio
		}
	}
	if a, b, ok := strings.Cut(unit, "/"); ok && a != "" && slices.Contains(baselineWords, b) {
		return kindRatio
	}
	if strings.HasSuffix(unit, "%") {
		for _, w := range words {
			if slices.Contains(comparisonWords, w) {
				return kindRatio
			}
		}
	}
	for _, w := range words {
		if slices.Contains(baselineWords, w) {
			return kindBaseline
		}
	}
	return kindOwn
}

// baselineElem reports whether a path element of a benchmark's name names a baseline.
func baselineElem(e string) bool {
	return e == "bare" || e == "brute" || strings.HasPrefix(e, "baseline")
}

// baselineKey returns a baseline benchmark's key (its name without the baseline element) and
// the element's position, or ok false when name is not a baseline benchmark.
func baselineKey(name string) (key string, pos int, ok bool) {
	parts := strings.Split(name, "/")
	for i := len(parts) - 1; i >= 1; i-- {
		if baselineElem(parts[i]) {
			return strings.Join(slices.Delete(slices.Clone(parts), i, i+1), "/"), i, true
		}
	}
	return "", 0, false
}

// compare applies rule 2 of doc.go: it pairs benchmarks with their baseline benchmarks and
// fills Baseline and Ratios.
func compare(bs []Benchmark) {
	type base struct {
		idx int
		key string
		pos int
	}
	bases := map[string][]base{} // package -> its baseline benchmarks
	for i, b := range bs {
		if key, pos, ok := baselineKey(b.Name); ok && b.Status == "ok" {
			bases[b.Package] = append(bases[b.Package], base{i, key, pos})
		}
	}
	for i := range bs {
		b := &bs[i]
		if _, _, isBase := baselineKey(b.Name); isBase || b.Status != "ok" {
			continue
		}
		parts := strings.Split(b.Name, "/")
		match := -1
		for _, c := range bases[b.Package] {
			if b.Name == c.key {
				match = c.idx
				break
			}
		}
		if match < 0 {
			for _, c := range bases[b.Package] {
				if c.pos < len(parts) && strings.Join(slices.Delete(slices.Clone(parts), c.pos, c.pos+1), "/") == c.key {
					match = c.idx
					break
				}
			}
		}
		if match < 0 {
			continue
		}
		bl := bs[match]
		b.Baseline = bl.Name
		b.Ratios = ratios(*b, bl)
	}
}

// ratios computes ours/baseline for a pair, as doc.go says.
func ratios(ours, base Benchmark) map[string]float64 {
	for u := range ours.Metrics {
		if classify(u) == kindRatio {
			return nil // the benchmark compares itself
		}
	}
	out := map[string]float64{}
	if !hasCustom(ours) && !hasCustom(base) {
		if a, b := ours.Metrics["ns/op"], base.Metrics["ns/op"]; a > 0 && b > 0 {
			return map[string]float64{"ns/op": a / b}
		}
		return nil
	}
	for u, a := range ours.Metrics {
		b, ok := base.Metrics[u]
		if !ok || b == 0 || classify(u) != kindOwn {
			continue
		}
		if strings.Contains(u, "p99") || strings.HasSuffix(u, "/s") || strings.HasSuffix(u, "rps") {
			out[u] = a / b
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// hasCustom reports whether a benchmark reports a unit of its own (b.ReportMetric); MB/s,
// which b.SetBytes adds, is not one.
func hasCustom(b Benchmark) bool {
	for u := range b.Metrics {
		if classify(u) != kindBuiltin && u != "MB/s" {
			return true
		}
	}
	return false
}
