package roads

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestAndorra(t *testing.T) {
	g := andorraGraph(t)
	sw, ne := g.Bounds()
	t.Logf("andorra: %d nodes, %d edges, %d bytes embedded, box %v - %v, centre %v",
		g.Len(), g.Edges(), len(andorraRoads), sw, ne, g.Center())
	if g.Len() < 2000 || g.Len() > 50000 {
		t.Fatalf("andorra: %d nodes, want a city's worth (2,000 - 50,000)", g.Len())
	}
	if len(andorraRoads) > 500<<10 {
		t.Fatalf("andorra: embedded file is %d bytes, want < 500 KiB", len(andorraRoads))
	}
	if !connected(g) {
		t.Fatal("andorra: not connected")
	}
	// Andorra la Vella's centre lies within the box and a few km of its centre.
	vella := Point{Lat: 42.5075, Lng: 1.5218}
	if vella.Lat < sw.Lat || vella.Lat > ne.Lat || vella.Lng < sw.Lng || vella.Lng > ne.Lng {
		t.Fatalf("andorra: box %v - %v misses Andorra la Vella %v", sw, ne, vella)
	}
	if d := Distance(g.Center(), vella); d > 3000 {
		t.Fatalf("andorra: centre %v is %.0f m from Andorra la Vella", g.Center(), d)
	}
	if again, err := Andorra(); err != nil || again != g {
		t.Fatalf("Andorra is not cached: %p, %p, %v", again, g, err)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		from, to := g.Random(rng), g.Random(rng)
		path, meters, err := g.Route(from, to)
		if err != nil {
			t.Fatalf("route %d -> %d: %v", from, to, err)
		}
		checkPath(t, g, from, to, path, meters)
		if meters > 20000 {
			t.Fatalf("route %d -> %d: %.0f m, too long for a city", from, to, meters)
		}
	}
}

func TestGrid(t *testing.T) {
	center := Point{Lat: 42.5, Lng: 1.52}
	g := Grid(center, 10, 150)
	if g.Len() != 121 || g.Edges() != 220 {
		t.Fatalf("10x10 grid: %d nodes, %d edges, want 121 and 220", g.Len(), g.Edges())
	}
	if d := Distance(g.Center(), center); d > 0.01 {
		t.Fatalf("grid centre %v is %.3f m from %v", g.Center(), d, center)
	}
	for u := range g.Len() {
		g.Neighbors(u, func(_ int, m float64) {
			if math.Abs(m-150) > 0.5 {
				t.Fatalf("grid edge from %d: %.3f m, want 150", u, m)
			}
		})
	}
	if !connected(g) {
		t.Fatal("grid: not connected")
	}
	if g := Grid(center, 0, -1); g.Len() != 4 || g.Edges() != 4 {
		t.Fatalf("degenerate grid: %d nodes, %d edges, want 4 and 4", g.Len(), g.Edges())
	}
}

func TestNearest(t *testing.T) {
	graphs := map[string]*Graph{
		"grid":    Grid(Point{Lat: -33.9, Lng: 151.2}, 30, 80),
		"andorra": andorraGraph(t),
		"line":    Grid(Point{Lat: 60, Lng: 10}, 1, 1),
	}
	for name, g := range graphs {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			sw, ne := g.Bounds()
			h, w := ne.Lat-sw.Lat, ne.Lng-sw.Lng
			for i := range 2000 {
				// Points over twice the box, so that some fall outside it.
				p := Point{Lat: sw.Lat - h/2 + 2*h*rng.Float64(), Lng: sw.Lng - w/2 + 2*w*rng.Float64()}
				if i%100 == 0 {
					p = Point{Lat: sw.Lat - 1, Lng: ne.Lng + 2} // far away
				}
				got, want := g.Nearest(p), nearestLinear(g, p)
				if got != want && Distance(p, g.Point(got)) > Distance(p, g.Point(want))+1e-6 {
					t.Fatalf("Nearest(%v) = %d (%.3f m), want %d (%.3f m)",
						p, got, Distance(p, g.Point(got)), want, Distance(p, g.Point(want)))
				}
			}
			for range 200 {
				n := g.Random(rng)
				if got := g.Nearest(g.Point(n)); Distance(g.Point(got), g.Point(n)) > 1e-6 {
					t.Fatalf("Nearest(Point(%d)) = %d", n, got)
				}
			}
		})
	}
}

func TestRandom(t *testing.T) {
	g := Grid(Point{}, 3, 100) // 16 nodes
	a := rand.New(rand.NewPCG(9, 9))
	b := rand.New(rand.NewPCG(9, 9))
	counts := make([]int, g.Len())
	const draws = 16000
	for range draws {
		n := g.Random(a)
		if m := g.Random(b); m != n {
			t.Fatalf("same seed, different nodes: %d, %d", n, m)
		}
		counts[n]++
	}
	for n, c := range counts {
		if c < 800 || c > 1200 { // expected 1000, sd about 31
			t.Fatalf("node %d drawn %d times of %d, want about 1000", n, c, draws)
		}
	}
}

func TestCrop(t *testing.T) {
	g := Grid(Point{Lat: 42.5, Lng: 1.5}, 10, 100) // 11x11 nodes
	sw, _ := g.Bounds()
	// The lower-left 3x3 intersections (200 m square, plus a margin).
	ne := offset(sw, 250, 250)
	c, err := g.Crop(sw, ne)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 9 || c.Edges() != 12 || !connected(c) {
		t.Fatalf("crop: %d nodes, %d edges, want 9 and 12", c.Len(), c.Edges())
	}
	far := offset(sw, -10000, -10000)
	if _, err := g.Crop(far, offset(far, 10, 10)); !errors.Is(err, ErrNoRoads) {
		t.Fatalf("empty crop: err = %v, want ErrNoRoads", err)
	}
}

func TestEncodeDecode(t *testing.T) {
	for name, g := range map[string]*Graph{
		"grid":    Grid(Point{Lat: 42.5, Lng: 1.5}, 7, 90),
		"andorra": andorraGraph(t),
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := g.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			enc := bytes.Clone(buf.Bytes())
			d, err := Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != g.Len() || d.Edges() != g.Edges() {
				t.Fatalf("decoded %d nodes, %d edges, want %d and %d", d.Len(), d.Edges(), g.Len(), g.Edges())
			}
			for i := range g.Len() {
				if Distance(d.Point(i), g.Point(i)) > 0.02 {
					t.Fatalf("node %d: decoded %v, was %v", i, d.Point(i), g.Point(i))
				}
			}
			var again bytes.Buffer
			if err := d.Encode(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), enc) {
				t.Fatal("encoding a decoded graph gives other bytes")
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	var good bytes.Buffer
	if err := Grid(Point{}, 2, 10).Encode(&good); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"empty":     nil,
		"not gzip":  []byte("roads1\n"),
		"truncated": good.Bytes()[:good.Len()-12],
		"plain":     gzipped([]byte("hello, world")),
		"bad edge":  gzipped([]byte("roads1\n\x02\x00\x00\x02\x02\x01\x00\x05")),
		"no edges":  gzipped([]byte("roads1\n\x01\x00\x00\x00")),
		"trailing":  gzipped([]byte("roads1\n\x02\x00\x00\x02\x02\x01\x00\x01!")),
	} {
		if _, err := Decode(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if g, err := Decode(bytes.NewReader(gzipped([]byte("roads1\n\x02\x00\x00\x02\x02\x01\x00\x01")))); err != nil || g.Len() != 2 {
		t.Fatalf("minimal graph: %v, %v", g, err)
	}
}

func FuzzDecode(f *testing.F) {
	var good bytes.Buffer
	if err := Grid(Point{Lat: 1, Lng: 2}, 2, 10).Encode(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(gzipped([]byte("roads1\n\x02\x00\x00\x02\x02\x01\x00\x01")))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Decode(bytes.NewReader(in))
		if err != nil {
			return
		}
		if g.Len() < 2 || !connected(g) {
			t.Fatalf("decoded a graph of %d nodes, connected %v", g.Len(), connected(g))
		}
	})
}
