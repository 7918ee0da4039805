// Command roadgen builds internal/sim/roads/andorra.roads.gz, the road network
// embedded in package roads, from the Andorra OpenStreetMap extract that the
// github.com/paulmach/osm module ships in its testdata (© OpenStreetMap
// contributors, ODbL 1.0).
//
//	go run ./scripts/roadgen [-in andorra-latest.osm.bz2] [-out internal/sim/roads/andorra.roads.gz] [-box 42.49,1.49,42.52,1.55]
//
// Without -in it asks the go command where the module is (downloading it into
// the module cache when needed). The same input always gives the same output.
package main

import (
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// osmModule is the module whose testdata holds the extract; its version is the
// one in go.mod.
const osmModule = "github.com/paulmach/osm"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "roadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("roadgen", flag.ContinueOnError)
	in := fs.String("in", "", "the OSM XML extract, bzip2-compressed (default: testdata/andorra-latest.osm.bz2 of "+osmModule+")")
	out := fs.String("out", filepath.Join("internal", "sim", "roads", "andorra.roads.gz"), "the file to write")
	box := fs.String("box", "42.49,1.49,42.52,1.55", "the crop box: south,west,north,east in degrees")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sw, ne, err := parseBox(*box)
	if err != nil {
		return err
	}
	if *in == "" {
		dir, err := moduleDir(ctx, osmModule)
		if err != nil {
			return err
		}
		*in = filepath.Join(dir, "testdata", "andorra-latest.osm.bz2")
	}

	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	all, err := roads.LoadOSM(bzip2.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	g, err := all.Crop(sw, ne)
	if err != nil {
		return fmt.Errorf("crop to %s: %w", *box, err)
	}

	var buf bytes.Buffer
	if err := g.Encode(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d nodes, %d edges (from %d nodes, %d edges), %d bytes\n",
		*out, g.Len(), g.Edges(), all.Len(), all.Edges(), buf.Len())
	return nil
}

// parseBox reads "south,west,north,east".
func parseBox(s string) (sw, ne roads.Point, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return sw, ne, fmt.Errorf("-box %q: want south,west,north,east", s)
	}
	var v [4]float64
	for i, p := range parts {
		if v[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
			return sw, ne, fmt.Errorf("-box %q: %w", s, err)
		}
	}
	if v[0] >= v[2] || v[1] >= v[3] {
		return sw, ne, fmt.Errorf("-box %q: south must be below north and west below east", s)
	}
	return roads.Point{Lat: v[0], Lng: v[1]}, roads.Point{Lat: v[2], Lng: v[3]}, nil
}

// moduleDir is the directory of module (at the version go.mod requires) in
// the module cache, downloaded if needed.
func moduleDir(ctx context.Context, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %w", module, errors.New(info.Error))
	}
	return info.Dir, nil
}
