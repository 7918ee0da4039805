package roads

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func TestLoadOSM(t *testing.T) {
	f, err := os.Open("testdata/small.osm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := LoadOSM(f)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes 1, 2, 3, 4, 5 in the order they first appear in the kept ways.
	want := []Point{{42.5, 1.5}, {42.501, 1.5}, {42.502, 1.5}, {42.502, 1.501}, {42.501, 1.501}}
	if g.Len() != len(want) || g.Edges() != 4 {
		t.Fatalf("%d nodes, %d edges, want %d and 4", g.Len(), g.Edges(), len(want))
	}
	for i, p := range want {
		if g.Point(i) != p {
			t.Errorf("node %d at %v, want %v", i, g.Point(i), p)
		}
	}
	// The service way 3-4 is tagged oneway, and is driven both ways.
	for _, c := range [][2]int{{2, 3}, {3, 2}} {
		_, m, err := g.Route(c[0], c[1])
		if err != nil || math.Abs(m-Distance(want[2], want[3])) > 1e-9 {
			t.Errorf("route %d -> %d: %v m, %v", c[0], c[1], m, err)
		}
	}
	// 1 -> 5 goes through 2 (the link road).
	path, _, err := g.Route(0, 4)
	if err != nil || len(path) != 3 || path[1] != want[1] {
		t.Errorf("route 1 -> 5: %v, %v", path, err)
	}
}

func TestLoadOSMErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"garbage":     "\x00\x01 not xml at all",
		"plain text":  "hello, world",
		"broken xml":  `<osm><node id="1" lat="1" lon="1"/><way id="2"><nd ref="1"/>`,
		"no roads":    `<osm><node id="1" lat="1" lon="1"/><node id="2" lat="1" lon="1.001"/><way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way></osm>`,
		"bad lat":     `<osm><node id="1" lat="91" lon="1"/></osm>`,
		"nan":         `<osm><node id="1" lat="NaN" lon="1"/></osm>`,
		"bad number":  `<osm><node id="1" lat="north" lon="1"/></osm>`,
		"single node": `<osm><node id="1" lat="1" lon="1"/><way id="3"><nd ref="1"/><nd ref="1"/><tag k="highway" v="primary"/></way></osm>`,
	} {
		g, err := LoadOSM(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: loaded a graph of %d nodes", name, g.Len())
		}
	}
	_, err := LoadOSM(strings.NewReader(`<osm></osm>`))
	if !errors.Is(err, ErrNoRoads) {
		t.Errorf("no ways: err = %v, want ErrNoRoads", err)
	}
}

func FuzzLoadOSM(f *testing.F) {
	small, err := os.ReadFile("testdata/small.osm")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add([]byte(`<osm><node id="1" lat="1" lon="1"/><node id="2" lat="1" lon="1.001"/><way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way></osm>`))
	f.Add([]byte(`<osm><way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way><node id="1" lat="-90" lon="180"/><node id="2" lat="90" lon="-180"/></osm>`))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := LoadOSM(bytes.NewReader(in))
		if err != nil {
			return
		}
		if g.Len() < 2 || !connected(g) {
			t.Fatalf("loaded a graph of %d nodes, connected %v", g.Len(), connected(g))
		}
		if _, _, err := g.Route(0, g.Len()-1); err != nil {
			t.Fatalf("route across the loaded graph: %v", err)
		}
		g.Nearest(g.Center())
	})
}
