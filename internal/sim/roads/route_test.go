package roads

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestRouteMatchesDijkstra(t *testing.T) {
	graphs := map[string]*Graph{
		"grid":    Grid(Point{Lat: 48.85, Lng: 2.35}, 15, 120),
		"andorra": andorraGraph(t),
	}
	for name, g := range graphs {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				from, to := g.Random(rng), g.Random(rng)
				path, meters, err := g.Route(from, to)
				if err != nil {
					t.Fatalf("route %d -> %d: %v", from, to, err)
				}
				checkPath(t, g, from, to, path, meters)
				if want := dijkstra(g, from, to); math.Abs(meters-want) > 1e-6*max(1, want) {
					t.Fatalf("route %d -> %d: A* %.6f m, Dijkstra %.6f m", from, to, meters, want)
				}
			}
		})
	}
}

func TestRouteGridLength(t *testing.T) {
	g := Grid(Point{Lat: 0, Lng: 0}, 4, 100)
	// Corner to corner: 4 blocks east and 4 north, 800 m by any shortest path.
	_, meters, err := g.Route(0, g.Len()-1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(meters-800) > 0.5 {
		t.Fatalf("corner to corner: %.3f m, want 800", meters)
	}
}

func TestRouteSameNode(t *testing.T) {
	g := Grid(Point{Lat: 10, Lng: 10}, 2, 50)
	path, meters, err := g.Route(3, 3)
	if err != nil || meters != 0 || len(path) != 1 || path[0] != g.Point(3) {
		t.Fatalf("Route(3, 3) = %v, %v, %v", path, meters, err)
	}
}

func TestRouteErrors(t *testing.T) {
	g := Grid(Point{Lat: 10, Lng: 10}, 2, 50)
	for _, c := range [][2]int{{-1, 0}, {0, g.Len()}, {g.Len(), 0}} {
		if _, _, err := g.Route(c[0], c[1]); !errors.Is(err, ErrNode) {
			t.Errorf("Route(%d, %d): err = %v, want ErrNode", c[0], c[1], err)
		}
	}
	// Two separate edges, built by hand: the constructors only make
	// connected graphs.
	pts := []Point{{0, 0}, {0, 0.001}, {1, 0}, {1, 0.001}}
	split := newGraph(pts, []edgeKey{{0, 1}, {2, 3}})
	if _, _, err := split.Route(0, 3); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("Route across components: err = %v, want ErrNoRoute", err)
	}
	// The scratch state is reused: a later search must not see the old one.
	if _, m, err := split.Route(2, 3); err != nil || m <= 0 {
		t.Fatalf("Route(2, 3) after a failed search: %v, %v", m, err)
	}
}

// Route is called from many goroutines at once by the simulator.
func TestRouteConcurrent(t *testing.T) {
	g := andorraGraph(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 50 {
				from, to := g.Random(rng), g.Random(rng)
				_, meters, err := g.Route(from, to)
				if err == nil && math.Abs(meters-dijkstra(g, from, to)) > 1e-6*max(1, meters) {
					err = errors.New("route differs from Dijkstra under concurrency")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
