package roads

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWalkerArrives(t *testing.T) {
	g := andorraGraph(t)
	rng := rand.New(rand.NewPCG(11, 12))
	const speed = 9.0
	const dt = 250 * time.Millisecond
	for range 20 {
		from, to := g.Random(rng), g.Random(rng)
		path, meters, err := g.Route(from, to)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWalker(path, speed)
		if math.Abs(w.Length()-meters) > 1e-6*max(1, meters) {
			t.Fatalf("walker length %.3f, route %.3f", w.Length(), meters)
		}
		var elapsed time.Duration
		for {
			pos, arrived := w.Advance(dt)
			elapsed += dt
			if d := distanceToPath(pos, path); d > 0.5 {
				t.Fatalf("after %v the walker is %.2f m off its path", elapsed, d)
			}
			if h := w.Heading(); h < 0 || h >= 360 {
				t.Fatalf("heading %v out of [0, 360)", h)
			}
			if arrived {
				if pos != path[len(path)-1] {
					t.Fatalf("arrived at %v, path ends at %v", pos, path[len(path)-1])
				}
				break
			}
			if elapsed > time.Hour {
				t.Fatal("never arrived")
			}
		}
		want := time.Duration(meters / speed * float64(time.Second))
		if elapsed < want || elapsed > want+dt {
			t.Fatalf("%.1f m at %v m/s arrived after %v, want %v (+ one step)", meters, speed, elapsed, want)
		}
		if pos, arrived := w.Advance(time.Minute); !arrived || pos != path[len(path)-1] || w.Remaining() != 0 {
			t.Fatalf("after arriving: %v, %v, remaining %v", pos, arrived, w.Remaining())
		}
	}
}

func TestWalkerHeading(t *testing.T) {
	g := Grid(Point{Lat: 42.5, Lng: 1.5}, 2, 100) // node r*3+c, row 0 south, column 0 west
	path := []Point{g.Point(0), g.Point(1), g.Point(4), g.Point(4), g.Point(3)}
	w := NewWalker(path, 10)
	for _, step := range []struct {
		dt      time.Duration
		heading float64
	}{
		{0, 90},               // east
		{5 * time.Second, 90}, // 50 m along the first block
		{10 * time.Second, 0}, // 150 m: north
		{10 * time.Second, 270},
		{time.Hour, 270}, // arrived: the last segment
	} {
		w.Advance(step.dt)
		if h := w.Heading(); math.Abs(h-step.heading) > 0.01 {
			t.Fatalf("after %v more: heading %.3f, want %v", step.dt, h, step.heading)
		}
	}
}

func TestWalkerEdgeCases(t *testing.T) {
	if pos, arrived := NewWalker(nil, 5).Advance(time.Second); !arrived || pos != (Point{}) {
		t.Errorf("empty path: %v, %v", pos, arrived)
	}
	p := Point{Lat: 1, Lng: 2}
	if pos, arrived := NewWalker([]Point{p}, 5).Advance(0); !arrived || pos != p {
		t.Errorf("one point: %v, %v", pos, arrived)
	}
	w := NewWalker([]Point{p, p, p}, 5)
	if pos, arrived := w.Advance(time.Second); !arrived || pos != p || w.Heading() != 0 {
		t.Errorf("path without length: %v, %v, heading %v", pos, arrived, w.Heading())
	}
	q := offset(p, 100, 0)
	still := NewWalker([]Point{p, q}, 0)
	if pos, arrived := still.Advance(time.Hour); arrived || pos != p {
		t.Errorf("speed 0: %v, %v", pos, arrived)
	}
	half := NewWalker([]Point{p, q}, 10)
	pos, arrived := half.Advance(5 * time.Second)
	if arrived || math.Abs(Distance(p, pos)-50) > 0.01 || math.Abs(half.Remaining()-50) > 0.01 {
		t.Errorf("half way: %v, %v, %.3f m from start", pos, arrived, Distance(p, pos))
	}
}

// distanceToPath is the distance in metres from p to the nearest segment of
// path, on a local flat projection.
func distanceToPath(p Point, path []Point) float64 {
	if len(path) == 1 {
		return Distance(p, path[0])
	}
	kx := metersPerDegLat * math.Cos(p.Lat*deg)
	best := math.Inf(1)
	for i := 1; i < len(path); i++ {
		ax, ay := (path[i-1].Lng-p.Lng)*kx, (path[i-1].Lat-p.Lat)*metersPerDegLat
		bx, by := (path[i].Lng-p.Lng)*kx, (path[i].Lat-p.Lat)*metersPerDegLat
		dx, dy := bx-ax, by-ay
		t := 0.0
		if l2 := dx*dx + dy*dy; l2 > 0 {
			t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l2))
		}
		best = math.Min(best, math.Hypot(ax+t*dx, ay+t*dy))
	}
	return best
}
