package roads

import (
	"sort"
	"time"
)

// Walker moves along a path at a constant speed. It is not safe for
// concurrent use; each vehicle has its own.
type Walker struct {
	path  []Point
	cum   []float64 // cum[i] is the distance along the path to path[i]
	speed float64   // metres per second
	at    float64   // distance travelled
	seg   int       // the current segment: path[seg] to path[seg+1]
}

// NewWalker starts at the first point of path and moves toward the last at
// speedMS metres per second (0 or less: it stays where it is). Segment
// lengths are haversine distances; positions within a segment are
// interpolated linearly in latitude and longitude. An empty path is arrived
// from the start, at the zero Point.
func NewWalker(path []Point, speedMS float64) *Walker {
	w := &Walker{path: path, cum: make([]float64, len(path)), speed: max(speedMS, 0)}
	for i := 1; i < len(path); i++ {
		w.cum[i] = w.cum[i-1] + Distance(path[i-1], path[i])
	}
	w.seg = w.segment(0)
	return w
}

// Length is the length of the path in metres.
func (w *Walker) Length() float64 {
	if len(w.cum) == 0 {
		return 0
	}
	return w.cum[len(w.cum)-1]
}

// Remaining is the distance left to the end of the path in metres.
func (w *Walker) Remaining() float64 { return w.Length() - w.at }

// Advance moves the walker by dt at its speed and returns its position and
// whether it has reached the end of the path. Once arrived it stays there.
func (w *Walker) Advance(dt time.Duration) (pos Point, arrived bool) {
	if dt > 0 {
		w.at = min(w.at+w.speed*dt.Seconds(), w.Length())
		w.seg = w.segment(w.at)
	}
	return w.Position(), w.Arrived()
}

// Arrived tells whether the walker is at the end of its path.
func (w *Walker) Arrived() bool { return w.at >= w.Length() }

// Position is where the walker is now.
func (w *Walker) Position() Point {
	switch len(w.path) {
	case 0:
		return Point{}
	case 1:
		return w.path[0]
	}
	if w.Arrived() {
		return w.path[len(w.path)-1]
	}
	a, b := w.path[w.seg], w.path[w.seg+1]
	l := w.cum[w.seg+1] - w.cum[w.seg]
	t := (w.at - w.cum[w.seg]) / l // l > 0: segment never picks an empty one
	return Point{Lat: a.Lat + (b.Lat-a.Lat)*t, Lng: a.Lng + (b.Lng-a.Lng)*t}
}

// Heading is the bearing of the current segment in degrees clockwise from
// north, in [0, 360). At the end of the path it is the last segment's; a
// path without any length has heading 0.
func (w *Walker) Heading() float64 {
	if w.seg < 0 {
		return 0
	}
	return bearing(w.path[w.seg], w.path[w.seg+1])
}

// segment is the index of the segment of non-zero length holding the
// distance at: the last such segment starting at or before at, or, at the
// very end, the last one of the path; -1 when the path has no length.
func (w *Walker) segment(at float64) int {
	n := len(w.cum)
	if n < 2 || w.cum[n-1] == 0 {
		return -1
	}
	// The first point strictly beyond at ends the segment.
	j := sort.SearchFloat64s(w.cum, at)
	for j < n && w.cum[j] <= at {
		j++
	}
	if j >= n {
		j = n - 1
		for w.cum[j-1] == w.cum[j] { // step back over empty final segments
			j--
		}
	}
	return j - 1
}
