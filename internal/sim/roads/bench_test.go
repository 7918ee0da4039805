package roads

import (
	"math/rand/v2"
	"testing"
)

// routePairs are fixed random node pairs, the same in every run.
func routePairs(g *Graph, n int) [][2]int {
	rng := rand.New(rand.NewPCG(21, 22))
	pairs := make([][2]int, n)
	for i := range pairs {
		pairs[i] = [2]int{g.Random(rng), g.Random(rng)}
	}
	return pairs
}

// BenchmarkRoute compares Route (A*) with the plain Dijkstra of the tests as
// a baseline, on the embedded city and on a 30x30 grid.
func BenchmarkRoute(b *testing.B) {
	for _, c := range []struct {
		name string
		g    *Graph
	}{
		{"andorra", andorraGraph(b)},
		{"grid30", Grid(Point{Lat: 42.5, Lng: 1.52}, 30, 100)},
	} {
		pairs := routePairs(c.g, 256)
		b.Run(c.name+"/astar", func(b *testing.B) {
			i := 0
			for b.Loop() {
				p := pairs[i%len(pairs)]
				if _, _, err := c.g.Route(p[0], p[1]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(c.name+"/dijkstra", func(b *testing.B) {
			i := 0
			for b.Loop() {
				p := pairs[i%len(pairs)]
				dijkstra(c.g, p[0], p[1])
				i++
			}
		})
	}
}

// BenchmarkNearest compares the grid index with a linear scan of every node.
func BenchmarkNearest(b *testing.B) {
	g := andorraGraph(b)
	sw, ne := g.Bounds()
	rng := rand.New(rand.NewPCG(23, 24))
	pts := make([]Point, 1024)
	for i := range pts {
		pts[i] = Point{Lat: sw.Lat + (ne.Lat-sw.Lat)*rng.Float64(), Lng: sw.Lng + (ne.Lng-sw.Lng)*rng.Float64()}
	}
	b.Run("andorra/index", func(b *testing.B) {
		i := 0
		for b.Loop() {
			g.Nearest(pts[i%len(pts)])
			i++
		}
	})
	b.Run("andorra/linear", func(b *testing.B) {
		i := 0
		for b.Loop() {
			nearestLinear(g, pts[i%len(pts)])
			i++
		}
	})
}
