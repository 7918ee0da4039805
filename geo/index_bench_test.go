package geo

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	h3 "github.com/uber/h3-go/v4"
)

// Lisbon, where the benchmark's drivers work: uniform in a disk of 25 km.
const benchLat, benchLng, benchRadius = 38.7223, -9.1393, 25e3

func benchIndex(b *testing.B, drivers int) *Index {
	b.Helper()
	x, err := NewIndex(IndexConfig{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	point := inDisk(benchLat, benchLng, benchRadius)
	for i := range drivers {
		lat, lng := point(r)
		if res := x.Update("driver-"+strconv.Itoa(i), fixAt(lat, lng, 0), nowAt(0)); !res.OK() {
			b.Fatal(res)
		}
	}
	return x
}

// BenchmarkNearest compares Nearest with BruteNearest on the same queries. The index
// variant reports x-brute, brute's ns/op over its own, measured in the same run (by the
// brute variant just before it, or on the spot when that one is filtered out).
func BenchmarkNearest(b *testing.B) {
	type nearestFunc = func(lat, lng float64, k int, maxMeters float64, accept func(string) bool, dst []Candidate) []Candidate
	r := rand.New(rand.NewPCG(3, 4))
	point := inDisk(benchLat, benchLng, benchRadius)
	queries := make([][2]float64, 1024)
	for i := range queries {
		queries[i][0], queries[i][1] = point(r)
	}
	for _, drivers := range []int{1000, 10000, 100000} {
		x := benchIndex(b, drivers)
		for _, k := range []int{1, 8} {
			loop := func(b *testing.B, nearest nearestFunc) {
				dst := make([]Candidate, 0, k)
				i := 0
				for b.Loop() {
					q := queries[i%len(queries)]
					i++
					if dst = nearest(q[0], q[1], k, 0, nil, dst); len(dst) != k {
						b.Fatalf("%d candidates", len(dst))
					}
				}
			}
			var bruteNs float64
			b.Run(fmt.Sprintf("drivers=%d/k=%d/brute", drivers, k), func(b *testing.B) {
				b.ReportAllocs()
				loop(b, x.BruteNearest)
				bruteNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
			b.Run(fmt.Sprintf("drivers=%d/k=%d/index", drivers, k), func(b *testing.B) {
				if bruteNs == 0 {
					bruteNs = timePerQuery(x.BruteNearest, queries, k)
				}
				b.ReportAllocs()
				loop(b, x.Nearest)
				b.ReportMetric(bruteNs/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x-brute")
			})
		}
	}
}

// timePerQuery times nearest over the queries, for at least 100ms.
func timePerQuery(nearest func(float64, float64, int, float64, func(string) bool, []Candidate) []Candidate, queries [][2]float64, k int) float64 {
	var dst []Candidate
	start, n := time.Now(), 0
	for time.Since(start) < 100*time.Millisecond {
		q := queries[n%len(queries)]
		dst = nearest(q[0], q[1], k, 0, nil, dst)
		n++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// BenchmarkUpdate measures a fix that keeps its driver in its cell (no allocation) and one
// that moves it to the next cell, among 10000 drivers.
func BenchmarkUpdate(b *testing.B) {
	x := benchIndex(b, 10000)
	c, err := h3.LatLngToCell(h3.LatLng{Lat: benchLat, Lng: benchLng}, x.Resolution())
	if err != nil {
		b.Fatal(err)
	}
	centre, err := c.LatLng()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("same_cell", func(b *testing.B) {
		b.ReportAllocs()
		x.Update("mover", fixAt(centre.Lat, centre.Lng, 0), nowAt(0))
		sec := int64(0)
		for b.Loop() {
			sec++
			// A few metres of GPS noise around the centre.
			if res := x.Update("mover", fixAt(centre.Lat+float64(sec%4)*2e-5, centre.Lng, sec), nowAt(sec)); res != Accepted {
				b.Fatal(res)
			}
		}
		x.Remove("mover")
	})
	b.Run("cell_change", func(b *testing.B) {
		// Back and forth between the centres of two neighbouring cells, about 300 m apart.
		ring, err := c.GridRing(1)
		if err != nil {
			b.Fatal(err)
		}
		next, err := ring[0].LatLng()
		if err != nil {
			b.Fatal(err)
		}
		stops := [2]h3.LatLng{centre, next}
		b.ReportAllocs()
		x.Update("mover", fixAt(centre.Lat, centre.Lng, 0), nowAt(0))
		sec := int64(0)
		for b.Loop() {
			sec += 10
			p := stops[(sec/10)%2]
			if res := x.Update("mover", fixAt(p.Lat, p.Lng, sec), nowAt(sec)); res != Moved {
				b.Fatal(res)
			}
		}
		x.Remove("mover")
	})
}
