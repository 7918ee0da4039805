package matching

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSolve times a reused Solver on city-like instances (see cityCost). It measures
// Greedy on the same matrix as the baseline. Besides ns/op and allocs/op it reports:
//
//	greedy-ns/op      Greedy's time per call, with a reused Solver
//	solve/greedy      Solve's time over Greedy's
//	greedy-unmatched  how many more rows Solve matches than Greedy
//	greedy-extra-%    how much longer Greedy's total distance is, when both match as many rows
func BenchmarkSolve(b *testing.B) {
	shapes := []struct{ n, m int }{{10, 10}, {50, 50}, {200, 200}, {50, 200}}
	radii := []struct {
		name   string
		radius float64
	}{{"dense", 0}, {"radius3km", 3000}}
	for _, sh := range shapes {
		for _, rd := range radii {
			b.Run(fmt.Sprintf("%dx%d/%s", sh.n, sh.m, rd.name), func(b *testing.B) {
				cost := cityCost(rand.New(rand.NewPCG(uint64(sh.n), uint64(sh.m))), sh.n, sh.m, rd.radius)
				var s, g Solver
				res, err := s.Solve(cost) // sizes the buffers
				if err != nil {
					b.Fatal(err)
				}
				gres, err := g.Greedy(cost)
				if err != nil {
					b.Fatal(err)
				}
				greedyNs := timePerCall(func() { _, _ = g.Greedy(cost) })

				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Solve(cost); err != nil {
						b.Fatal(err)
					}
				}
				solveNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(greedyNs, "greedy-ns/op")
				b.ReportMetric(solveNs/greedyNs, "solve/greedy")
				b.ReportMetric(float64(res.Matched-gres.Matched), "greedy-unmatched")
				if res.Matched == gres.Matched && res.Total > 0 {
					b.ReportMetric(100*(gres.Total-res.Total)/res.Total, "greedy-extra-%")
				}
			})
		}
	}
}

// timePerCall returns the mean wall time of f in nanoseconds over about 50 ms.
func timePerCall(f func()) float64 {
	calls := 0
	start := time.Now()
	for calls < 3 || time.Since(start) < 50*time.Millisecond {
		f()
		calls++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(calls)
}

func BenchmarkGreedy(b *testing.B) {
	cost := cityCost(rand.New(rand.NewPCG(200, 200)), 200, 200, 3000)
	var s Solver
	if _, err := s.Greedy(cost); err != nil { // sizes the buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Greedy(cost); err != nil {
			b.Fatal(err)
		}
	}
}
