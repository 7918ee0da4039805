package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Benchmark is one result line of `go test -bench`, with the lines its benchmark logged.
type Benchmark struct {
	Package    string             `json:"package"`
	Name       string             `json:"name"`            // without the -GOMAXPROCS suffix
	Procs      int                `json:"procs,omitempty"` // GOMAXPROCS of the run, when the name carried it
	Iterations int64              `json:"iterations"`
	Status     string             `json:"status"` // "ok", "fail" or "skip"
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	Log        []string           `json:"log,omitempty"`
	// Baseline and Ratios are filled by compare: see the rule in doc.go.
	Baseline string             `json:"baseline,omitempty"`
	Ratios   map[string]float64 `json:"ratios,omitempty"`
}

// PackageRun is one package of the run: whether it passed, and what it printed outside any
// benchmark (the failure of a build, a panic, a parent benchmark's logs).
type PackageRun struct {
	Package string   `json:"package"`
	Status  string   `json:"status"` // "ok", "fail" or "unknown" (the output ended before its verdict)
	Elapsed float64  `json:"elapsed_s,omitempty"`
	CPU     string   `json:"cpu,omitempty"` // the "cpu:" line go test printed
	Output  []string `json:"output,omitempty"`
}

// Parsed is everything read from one run's output.
type Parsed struct {
	Packages   []PackageRun
	Benchmarks []Benchmark
}

// event is one line of test2json (`go test -json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// maxLogLines bounds what is kept per benchmark and per package, so that a benchmark that logs
// in a loop cannot make the report unreadable.
const maxLogLines = 200

var (
	// logLine is a t.Log line: four spaces (eight when nested under a parent's output), the
	// source position, the message.
	logLine = regexp.MustCompile(`^ {4,}[^ \t:]+\.go:\d+: (.*)$`)
	// procsSuffix is the -GOMAXPROCS suffix go test appends to a benchmark's name.
	procsSuffix = regexp.MustCompile(`-(\d+)$`)
	// markerLine is a verdict line of a test or benchmark.
	markerLine = regexp.MustCompile(`^\s*--- (FAIL|SKIP|PASS|BENCH): (\S+)`)
)

// parser holds the state of one pass over a run's output.
type parser struct {
	pkgs     map[string]*pkgState
	order    []string
	textPkg  string // the package of plain-text output, from its "pkg:" line
	partial  map[string]string
	partTest map[string]string
}

// pkgState is what is known of one package while its output is read.
type pkgState struct {
	run      PackageRun
	results  []Benchmark
	seen     map[string]bool     // names announced by "=== RUN" (or a JSON Test field)
	logs     map[string][]string // benchmark name -> its log lines
	status   map[string]string   // benchmark name -> "fail" or "skip"
	current  string              // the benchmark whose output is being read
	inLog    bool                // the previous line was a log line: an indented line continues it
	lastName string
}

// Parse reads the output of `go test -bench`, either test2json events (`-json`) or plain
// text, or a mix of both (stderr merged into stdout), and returns the benchmarks in the
// order they finished.
func Parse(r io.Reader) (Parsed, error) {
	p := newParser()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		p.raw(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return Parsed{}, fmt.Errorf("read the benchmark output: %w", err)
	}
	return p.finish(), nil
}

func newParser() *parser {
	return &parser{pkgs: map[string]*pkgState{}, partial: map[string]string{}, partTest: map[string]string{}}
}

// raw handles one line of input: a test2json event or a line of plain output.
func (p *parser) raw(line string) {
	if strings.HasPrefix(line, "{") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err == nil && ev.Action != "" {
			p.event(ev)
			return
		}
	}
	p.line(p.textPkg, "", line)
}

// event handles one test2json event. Output may hold part of a line, or several lines: it is
// joined per package and cut at newlines.
func (p *parser) event(ev event) {
	pkg := ev.Package
	switch ev.Action {
	case "output", "build-output":
		buf := p.partial[pkg] + ev.Output
		if p.partial[pkg] == "" {
			p.partTest[pkg] = ev.Test
		}
		for {
			i := strings.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			test := p.partTest[pkg]
			if test == "" {
				test = ev.Test
			}
			p.line(pkg, test, buf[:i])
			buf = buf[i+1:]
			p.partTest[pkg] = ev.Test
		}
		p.partial[pkg] = buf
	case "run":
		if ev.Test != "" {
			st := p.pkg(pkg)
			st.seen[ev.Test] = true
			st.current = ev.Test
		}
	case "pass", "fail", "skip", "build-fail":
		st := p.pkg(pkg)
		verdict := map[string]string{"pass": "ok", "fail": "fail", "skip": "skip", "build-fail": "fail"}[ev.Action]
		if ev.Test == "" {
			if rest := p.partial[pkg]; rest != "" {
				p.line(pkg, p.partTest[pkg], rest)
				p.partial[pkg] = ""
			}
			st.run.Status = verdict
			st.run.Elapsed = ev.Elapsed
			return
		}
		if verdict != "ok" {
			st.status[ev.Test] = verdict
		}
	}
}

// pkg returns the state of a package, creating it on first sight.
func (p *parser) pkg(name string) *pkgState {
	st, ok := p.pkgs[name]
	if !ok {
		st = &pkgState{
			run:    PackageRun{Package: name, Status: "unknown"},
			seen:   map[string]bool{},
			logs:   map[string][]string{},
			status: map[string]string{},
		}
		p.pkgs[name] = st
		p.order = append(p.order, name)
	}
	return st
}

// line handles one complete line of go test's output; test is the benchmark test2json
// attributed it to ("" in plain text).
func (p *parser) line(pkg, test, line string) {
	line = strings.TrimRight(line, "\r")
	if v, ok := strings.CutPrefix(line, "pkg: "); ok {
		p.textPkg = strings.TrimSpace(v)
		if pkg == "" {
			pkg = p.textPkg
		}
	}
	st := p.pkg(pkg)
	if test != "" {
		st.current = test
		st.seen[test] = true
	}
	switch {
	case strings.HasPrefix(line, "=== RUN "):
		name := strings.TrimSpace(strings.TrimPrefix(line, "=== RUN "))
		st.seen[name] = true
		st.current = name
		st.inLog = false
		return
	case strings.HasPrefix(line, "=== "), strings.HasPrefix(line, "goos: "), strings.HasPrefix(line, "goarch: "),
		strings.HasPrefix(line, "pkg: "), line == "PASS", line == "":
		return
	case strings.HasPrefix(line, "cpu: "):
		st.run.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		return
	case strings.HasPrefix(line, "ok  \t") || strings.HasPrefix(line, "ok \t"):
		if st.run.Status == "unknown" {
			st.run.Status = "ok"
		}
		return
	case line == "FAIL" || strings.HasPrefix(line, "FAIL\t"):
		st.run.Status = "fail"
		return
	}
	if m := markerLine.FindStringSubmatch(line); m != nil {
		name, _ := splitProcs(st, "", m[2])
		switch m[1] {
		case "FAIL":
			st.status[name] = "fail"
		case "SKIP":
			st.status[name] = "skip"
		}
		st.current = name
		st.inLog = false
		return
	}
	if b, ok := p.result(st, test, line); ok {
		st.results = append(st.results, b)
		st.lastName = b.Name
		if test == "" && !st.seen[b.Name] {
			st.current = b.Name // plain output without -v: the logs follow the result line
		}
		st.inLog = false
		return
	}
	if strings.HasPrefix(line, "Benchmark") && !strings.ContainsAny(line, " \t") {
		return // the name a chatty run echoes before the benchmark starts
	}
	owner := st.current
	if owner == "" {
		owner = st.lastName
	}
	if m := logLine.FindStringSubmatch(line); m != nil && owner != "" {
		if logs := st.logs[owner]; len(logs) < maxLogLines {
			st.logs[owner] = append(logs, m[1])
			st.inLog = true
		}
		return
	}
	if st.inLog && owner != "" && strings.HasPrefix(line, "        ") {
		logs := st.logs[owner]
		if len(logs) > 0 {
			logs[len(logs)-1] += "\n" + strings.TrimSpace(line)
		}
		return
	}
	if len(st.run.Output) < maxLogLines {
		st.run.Output = append(st.run.Output, line)
	}
}

// splitProcs separates a printed benchmark name from its -GOMAXPROCS suffix.
func splitProcs(st *pkgState, test, printed string) (string, int) {
	m := procsSuffix.FindStringSubmatchIndex(printed)
	if m == nil {
		return printed, 0
	}
	base := printed[:m[0]]
	procs, err := strconv.Atoi(printed[m[2]:m[3]])
	if err != nil {
		return printed, 0
	}
	switch {
	case test != "" && test == printed:
		return printed, 0
	case test != "" && test == base:
		return base, procs
	case st.seen[printed] && !st.seen[base]:
		return printed, 0
	}
	return base, procs
}

// result parses a benchmark result line:
//
//	BenchmarkX/sub-2   	    1000	      1234 ns/op	  12.5 my-unit	     0 B/op	       0 allocs/op
func (p *parser) result(st *pkgState, test, line string) (Benchmark, bool) {
	if !strings.HasPrefix(line, "Benchmark") {
		return Benchmark{}, false
	}
	fields := strings.Split(line, "\t")
	if len(fields) < 2 {
		return Benchmark{}, false
	}
	printed := strings.TrimSpace(fields[0])
	if printed == "" || strings.ContainsAny(printed, " ") {
		return Benchmark{}, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(fields[1]), 10, 64)
	if err != nil || n < 0 {
		return Benchmark{}, false
	}
	metrics := map[string]float64{}
	for _, f := range fields[2:] {
		parts := strings.Fields(f)
		if len(parts) != 2 {
			return Benchmark{}, false
		}
		v, err := strconv.ParseFloat(parts[0], 64)
		if err != nil {
			return Benchmark{}, false
		}
		metrics[parts[1]] = v
	}
	name, procs := splitProcs(st, test, printed)
	return Benchmark{Package: st.run.Package, Name: name, Procs: procs, Iterations: n, Status: "ok", Metrics: metrics}, true
}

// finish attaches logs and verdicts to the results, adds the benchmarks that failed or were
// skipped without a result line, and returns everything in input order.
func (p *parser) finish() Parsed {
	var out Parsed
	for _, name := range p.order {
		st := p.pkgs[name]
		if rest := p.partial[name]; rest != "" {
			p.line(name, p.partTest[name], rest)
		}
		if name == "" && len(st.results) == 0 && len(st.run.Output) == 0 {
			continue
		}
		had := map[string]bool{}
		for i := range st.results {
			b := &st.results[i]
			had[b.Name] = true
			if s, ok := st.status[b.Name]; ok {
				b.Status = s
			}
			b.Log = st.logs[b.Name]
		}
		// A benchmark that failed or was skipped prints no result line. Its parents fail with
		// it; only the leaves are reported.
		for _, bench := range slices.Sorted(maps.Keys(st.status)) {
			s := st.status[bench]
			if had[bench] || !strings.HasPrefix(bench, "Benchmark") || hasChild(st.status, bench) {
				continue
			}
			st.results = append(st.results, Benchmark{Package: name, Name: bench, Status: s, Log: st.logs[bench]})
			had[bench] = true
		}
		// Logs of names without a result (a parent benchmark's own lines) stay with the package.
		for _, bench := range slices.Sorted(maps.Keys(st.logs)) {
			if had[bench] {
				continue
			}
			for _, l := range st.logs[bench] {
				if len(st.run.Output) < maxLogLines {
					st.run.Output = append(st.run.Output, bench+": "+l)
				}
			}
		}
		out.Packages = append(out.Packages, st.run)
		out.Benchmarks = append(out.Benchmarks, st.results...)
	}
	return out
}

// hasChild reports whether some other name in m is a sub-benchmark of name.
func hasChild(m map[string]string, name string) bool {
	for other := range m {
		if strings.HasPrefix(other, name+"/") {
			return true
		}
	}
	return false
}
