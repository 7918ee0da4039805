package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The checked-in extract is what the generator makes today, byte for byte
// once uncompressed (so that another Go release's compressor does not count
// as a change): this also shows the generator reproducible. It parses all of
// Andorra, about 10 s, a minute under the race detector; -short skips it.
func TestEmbeddedExtractUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole Andorra extract")
	}
	out := filepath.Join(t.TempDir(), "andorra.roads.gz")
	if err := run(context.Background(), []string{"-out", out}); err != nil {
		t.Fatal(err)
	}
	got := gunzip(t, out)
	want := gunzip(t, filepath.Join("..", "..", "internal", "sim", "roads", "andorra.roads.gz"))
	if !bytes.Equal(got, want) {
		t.Fatalf("internal/sim/roads/andorra.roads.gz is stale (%d bytes, generated %d): run go run ./scripts/roadgen", len(want), len(got))
	}
}

func TestParseBox(t *testing.T) {
	sw, ne, err := parseBox("42.49, 1.49,42.52,1.55")
	if err != nil || sw.Lat != 42.49 || sw.Lng != 1.49 || ne.Lat != 42.52 || ne.Lng != 1.55 {
		t.Fatalf("parseBox: %v %v %v", sw, ne, err)
	}
	for _, bad := range []string{"", "1,2,3", "1,2,3,x", "42.52,1.49,42.49,1.55", "42.49,1.55,42.52,1.49"} {
		if _, _, err := parseBox(bad); err == nil {
			t.Errorf("parseBox(%q): no error", bad)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.osm.bz2")
	if err := os.WriteFile(in, []byte("not bzip2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-in", in, "-out", filepath.Join(dir, "out.gz")}); err == nil {
		t.Fatal("no error for a file that is not bzip2")
	}
	if err := run(context.Background(), []string{"-in", filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
