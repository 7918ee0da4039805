package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// errFailed is returned, after the files are written, when the run had failures.
var errFailed = errors.New("some benchmarks or packages failed: see the report")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	in, raw, out, date, commit, goVersion, cpustat, readme string
	bench, packages, benchtime                             string
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "-", "go test output to read: test2json or text; - is stdin")
	fs.StringVar(&o.raw, "raw", "", "copy the input to this file as it arrives and echo progress to stderr")
	fs.StringVar(&o.out, "out", "bench/results", "directory of <date>.json and <date>.md")
	fs.StringVar(&o.date, "date", "", "the report's date, YYYY-MM-DD (default today, UTC)")
	fs.StringVar(&o.commit, "commit", "", "the commit benchmarked (default: git describe --always --dirty)")
	fs.StringVar(&o.goVersion, "go", runtime.Version(), "the Go toolchain of the run")
	fs.StringVar(&o.cpustat, "cpustat", "", "a copy of /proc/stat taken when the run started, to measure steal over the run")
	fs.StringVar(&o.bench, "bench", "", "the -bench expression of the run, recorded in the report")
	fs.StringVar(&o.packages, "packages", "", "the package patterns of the run, recorded in the report")
	fs.StringVar(&o.benchtime, "benchtime", "", "the -benchtime of the run, recorded in the report")
	fs.StringVar(&o.readme, "readme", "", "update this README's latest-run block from the newest report in -out, and read nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.readme != "" {
		path, err := updateReadme(o.readme, o.out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "updated %s from %s\n", o.readme, path)
		return nil
	}
	if o.date == "" {
		o.date = time.Now().UTC().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, o.date); err != nil {
		return fmt.Errorf("-date: want YYYY-MM-DD, got %q", o.date)
	}
	if o.commit == "" {
		o.commit = gitCommit(ctx)
	}

	in := stdin
	if o.in != "-" {
		f, err := os.Open(o.in)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	parsed, err := read(in, o.raw, stderr)
	if err != nil {
		return err
	}
	if len(parsed.Packages) == 0 {
		return errors.New("the input holds no go test output")
	}
	compare(parsed.Benchmarks)
	cpu := ""
	for _, p := range parsed.Packages {
		if p.CPU != "" {
			cpu = p.CPU
			break
		}
	}
	rawPath := o.raw
	if rawPath == "" && o.in != "-" {
		rawPath = o.in
	}
	rep := Report{
		Date:   o.date,
		Commit: o.commit,
		Go:     o.goVersion,
		Run:    RunInfo{Bench: o.bench, Packages: o.packages, Benchtime: o.benchtime, Raw: rawPath},
		// The machine is read now, at the end of the run, on the machine that ran it.
		Machine:    readMachine(cpu, o.cpustat),
		Packages:   parsed.Packages,
		Benchmarks: parsed.Benchmarks,
	}
	jsonPath, mdPath, err := write(rep, o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d benchmarks from %d packages\n  results: %s\n  table:   %s\n", len(rep.Benchmarks), len(rep.Packages), jsonPath, mdPath)
	if rep.Failed() {
		return errFailed
	}
	return nil
}

// read parses the input; with a raw path it also copies each line there and echoes the
// results, logs and failures to progress.
func read(in io.Reader, raw string, progress io.Writer) (Parsed, error) {
	if raw == "" {
		return Parse(in)
	}
	if err := os.MkdirAll(filepath.Dir(raw), 0o755); err != nil {
		return Parsed{}, err
	}
	f, err := os.Create(raw)
	if err != nil {
		return Parsed{}, err
	}
	w := bufio.NewWriter(f)
	p := newParser()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if _, err := w.WriteString(line + "\n"); err != nil {
			f.Close()
			return Parsed{}, fmt.Errorf("write %s: %w", raw, err)
		}
		echo(progress, line)
		p.raw(line)
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return Parsed{}, fmt.Errorf("read the benchmark output: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return Parsed{}, fmt.Errorf("write %s: %w", raw, err)
	}
	if err := f.Close(); err != nil {
		return Parsed{}, fmt.Errorf("write %s: %w", raw, err)
	}
	return p.finish(), nil
}

// quietOutput is output not worth echoing while a run goes: test2json's run markers and the
// names a chatty run echoes before each benchmark.
var quietOutput = regexp.MustCompile(`^(=== (RUN|PAUSE|CONT|NAME) .*|Benchmark\S*)\n$`)

// echo writes what a person watching the run wants to see of one input line.
func echo(w io.Writer, line string) {
	if strings.HasPrefix(line, "{") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err == nil && ev.Action != "" {
			if (ev.Action == "output" || ev.Action == "build-output") && !quietOutput.MatchString(ev.Output) {
				fmt.Fprint(w, ev.Output)
			}
			return
		}
	}
	fmt.Fprintln(w, line)
}

// write stores the report as <out>/<date>.json and <out>/<date>.md.
func write(rep Report, out string) (jsonPath, mdPath string, err error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("encode the report: %w", err)
	}
	jsonPath = filepath.Join(out, rep.Date+".json")
	mdPath = filepath.Join(out, rep.Date+".md")
	if err := os.WriteFile(jsonPath, append(data, '\n'), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(mdPath, []byte(rep.Markdown()), 0o644); err != nil {
		return "", "", err
	}
	return jsonPath, mdPath, nil
}

// gitCommit describes HEAD, with -dirty for uncommitted changes; "unknown" outside git.
func gitCommit(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// Markers of README's block that -readme rewrites.
const (
	readmeBegin = "<!-- bench:latest:begin -->"
	readmeEnd   = "<!-- bench:latest:end -->"
)

// reportName is a committed report's file name.
var reportName = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}\.json$`)

// updateReadme renders the newest report in dir between README's markers and returns the
// report's path.
func updateReadme(readme, dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && reportName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no <date>.json report in %s: run make bench first", dir)
	}
	slices.Sort(names)
	path := filepath.Join(dir, names[len(names)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	text, err := os.ReadFile(readme)
	if err != nil {
		return "", err
	}
	md := strings.TrimSuffix(path, ".json") + ".md"
	if rel, err := filepath.Rel(filepath.Dir(readme), md); err == nil {
		md = filepath.ToSlash(rel)
	}
	updated, err := replaceBlock(string(text), rep.ReadmeBlock(md))
	if err != nil {
		return "", fmt.Errorf("%s: %w", readme, err)
	}
	return path, os.WriteFile(readme, []byte(updated), 0o644)
}

// replaceBlock puts block between the markers of text, which must appear once each, in order.
func replaceBlock(text, block string) (string, error) {
	if strings.Count(text, readmeBegin) != 1 || strings.Count(text, readmeEnd) != 1 {
		return "", fmt.Errorf("want the lines %s and %s once each", readmeBegin, readmeEnd)
	}
	i := strings.Index(text, readmeBegin) + len(readmeBegin)
	j := strings.Index(text, readmeEnd)
	if j < i {
		return "", fmt.Errorf("%s comes before %s", readmeEnd, readmeBegin)
	}
	return text[:i] + "\n" + block + text[j:], nil
}
