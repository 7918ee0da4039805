package geo

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	h3 "github.com/uber/h3-go/v4"
)

// ErrInvalidConfig is wrapped by the errors of IndexConfig.Validate and NewIndex.
var ErrInvalidConfig = errors.New("invalid driver index config")

// IndexConfig configures an Index. Zero values take the defaults.
type IndexConfig struct {
	Resolution int           // H3 resolution of the drivers' cells, 1-15; 0 takes the default 9 (about 0.1 km² a cell)
	MaxFixAge  time.Duration // a fix taken before now-MaxFixAge is stale (default 2m)
	MaxSpeed   float64       // m/s; a fix farther from the driver's last one than this speed allows is a jump (default 70, 252 km/h)
}

// Defaults of IndexConfig.
const (
	DefaultResolution = 9
	DefaultMaxFixAge  = 2 * time.Minute
	DefaultMaxSpeed   = 70.0
)

// withDefaults returns c with its zero values replaced by the defaults.
func (c IndexConfig) withDefaults() IndexConfig {
	if c.Resolution == 0 {
		c.Resolution = DefaultResolution
	}
	if c.MaxFixAge == 0 {
		c.MaxFixAge = DefaultMaxFixAge
	}
	if c.MaxSpeed == 0 {
		c.MaxSpeed = DefaultMaxSpeed
	}
	return c
}

// Validate checks c as NewIndex would use it (zero values are the defaults). Its errors wrap
// ErrInvalidConfig and name the key of the hub's configuration and the allowed values.
func (c IndexConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, allowed string, got any) {
		errs = append(errs, fmt.Errorf("%w: dispatch.%s: must be %s, got %v", ErrInvalidConfig, key, allowed, got))
	}
	if c.Resolution < 0 || c.Resolution > 15 {
		bad("h3_resolution", "1-15 (or 0 for the default, 9)", c.Resolution)
	}
	if c.MaxFixAge < time.Second || c.MaxFixAge > 24*time.Hour {
		bad("max_fix_age", "between 1s and 24h0m0s", c.MaxFixAge)
	}
	if !(c.MaxSpeed >= 1 && c.MaxSpeed <= 340) { // also refuses NaN
		bad("max_speed", "1-340 (m/s)", c.MaxSpeed)
	}
	return errors.Join(errs...)
}

// UpdateResult says what Update did with a fix. Its String is a short metric label.
type UpdateResult uint8

// Results of Update. Accepted and Moved took the fix; the others refused it and left the
// driver where it was.
const (
	Accepted   UpdateResult = iota + 1 // the fix is the driver's position; the driver stayed in its cell
	Moved                              // accepted, and the driver entered a cell: its first fix, or a cell change
	Stale                              // taken before now-MaxFixAge
	OutOfOrder                         // not taken after the driver's last accepted fix
	Jump                               // reaching it from the last accepted fix takes more than MaxSpeed
	Invalid                            // latitude or longitude not finite or out of range
)

var resultNames = [...]string{"unknown", "accepted", "moved", "stale", "out_of_order", "jump", "invalid"}

func (r UpdateResult) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return resultNames[0]
}

// OK reports whether the fix was accepted (Accepted or Moved).
func (r UpdateResult) OK() bool { return r == Accepted || r == Moved }

// IndexStats are the counters of an Index since it was made.
type IndexStats struct {
	Accepted   uint64 // fixes accepted, those that Moved included
	Moved      uint64 // accepted fixes that put their driver into a cell (first fix or another cell)
	Stale      uint64
	OutOfOrder uint64
	Jump       uint64
	Invalid    uint64
	Drivers    int // drivers in the index now
}

// Candidate is a driver found by Nearest.
type Candidate struct {
	Driver string
	Meters float64 // Haversine distance from the query point
	Fix    Fix     // the driver's last accepted fix
}

// Index is one tenant's drivers, for nearest-driver queries. Each driver's cell is the H3
// cell of its last accepted fix at the index's resolution; drivers are bucketed by the parent
// of that cell one resolution coarser (searchCoarser), where Nearest walks its rings. It is
// safe for concurrent use: writers (Update, Remove) are serialised, readers share a read
// lock.
type Index struct {
	res       int                    // of the drivers' cells
	searchRes int                    // of the buckets and of Nearest's rings
	gaps      [len(ringGaps)]float64 // metres: ringGaps at searchRes
	maxAge    int64                  // ms
	maxSpeed  float64                // m/s

	mu      sync.RWMutex
	drivers map[string]*driver
	all     []member // every driver, for full scans
	buckets map[h3.Cell]*bucket

	accepted, moved, stale, outOfOrder, jump, invalid atomic.Uint64
	count                                             atomic.Int64
}

// searchCoarser is how many resolutions coarser than the index's the buckets are. A ring cell
// costs H3 and a map lookup, about ten times what ruling a driver out costs (see consider),
// so buckets hold a few drivers best. In BenchmarkNearest (drivers in a city, resolution 9)
// one resolution coarser made queries 1.6 times faster than none at 1,000 and 10,000
// drivers, about as fast at 100,000 (k=1 slower, k=8 faster); two made 100,000 two to three
// times slower.
const searchCoarser = 1

// driver is one driver's entry. Its id is the index's own copy, shared by the map key and
// every Candidate returned.
type driver struct {
	id         string
	fix        Fix
	φ, λ, cosφ float64 // the fix in radians, for haversine
	cell       h3.Cell // of the fix, at the index's resolution
	circle     circle  // inscribed in cell
	bucket     *bucket
	slot       int // in bucket.drivers
	pos        int // in Index.all
}

// member is a driver in a list that queries scan. Its position on the unit sphere is kept
// next to the pointer: most drivers are ruled out by chord length without a cache miss on
// their entry.
type member struct {
	v vec3
	d *driver
}

// bucket holds the drivers of one cell of the search resolution.
type bucket struct {
	cell    h3.Cell
	drivers []member
}

// NewIndex returns an empty index, or an error wrapping ErrInvalidConfig.
func NewIndex(cfg IndexConfig) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	x := &Index{
		res:       cfg.Resolution,
		searchRes: max(cfg.Resolution-searchCoarser, 0),
		maxAge:    cfg.MaxFixAge.Milliseconds(),
		maxSpeed:  cfg.MaxSpeed,
		drivers:   make(map[string]*driver),
		buckets:   make(map[h3.Cell]*bucket),
	}
	edge, err := h3.HexagonEdgeLengthAvgM(x.searchRes)
	if err != nil {
		return nil, fmt.Errorf("%w: dispatch.h3_resolution %d: %w", ErrInvalidConfig, cfg.Resolution, err)
	}
	for m, ratio := range ringGaps {
		x.gaps[m] = ratio * edge
	}
	return x, nil
}

// Resolution returns the H3 resolution of the drivers' cells.
func (x *Index) Resolution() int { return x.res }

func validPoint(lat, lng float64) bool {
	return lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180 // false for NaN
}

// Update records a driver's fix taken by now. It refuses a fix that is Stale (taken before
// now-MaxFixAge), OutOfOrder (not after the driver's last accepted fix), a Jump (farther from
// the last accepted fix than MaxSpeed allows in the time between them) or Invalid; otherwise
// the fix becomes the driver's position, and the driver changes buckets only when its cell
// changed (Moved). Each result is counted in Stats. It is O(1) and does not allocate when
// the driver stays in its cell; the driver id is copied once, on its first fix.
func (x *Index) Update(id string, fix Fix, now time.Time) UpdateResult {
	if !validPoint(fix.Lat, fix.Lng) {
		x.invalid.Add(1)
		return Invalid
	}
	if fix.At < now.UnixMilli()-x.maxAge {
		x.stale.Add(1)
		return Stale
	}
	φ, λ := fix.Lat*degree, fix.Lng*degree
	sinφ, cosφ := math.Sincos(φ)
	sinλ, cosλ := math.Sincos(λ)
	p := point{φ: φ, λ: λ, cosφ: cosφ, v: vec3{cosφ * cosλ, cosφ * sinλ, sinφ}}

	x.mu.Lock()
	defer x.mu.Unlock()
	d, known := x.drivers[id]
	if known {
		if fix.At <= d.fix.At {
			x.outOfOrder.Add(1)
			return OutOfOrder
		}
		seconds := float64(fix.At-d.fix.At) / 1000
		if haversine(d.φ, d.cosφ, d.λ, φ, cosφ, λ) > x.maxSpeed*seconds {
			x.jump.Add(1)
			return Jump
		}
		if c := &d.circle; haversine(c.φ, c.cosφ, c.λ, φ, cosφ, λ) < c.inner {
			x.set(d, fix, p)
			x.accepted.Add(1)
			return Accepted
		}
	}
	cell, err := h3.LatLngToCell(h3.LatLng{Lat: fix.Lat, Lng: fix.Lng}, x.res)
	if err != nil {
		x.invalid.Add(1)
		return Invalid
	}
	if known && cell == d.cell {
		x.set(d, fix, p)
		x.accepted.Add(1)
		return Accepted
	}
	parent, err := cell.Parent(x.searchRes)
	if err != nil {
		x.invalid.Add(1)
		return Invalid
	}
	if !known {
		d = &driver{id: strings.Clone(id), pos: len(x.all)}
		x.all = append(x.all, member{d: d})
		x.drivers[d.id] = d
		x.count.Add(1)
	} else if d.bucket.cell != parent {
		x.leave(d)
	}
	if d.bucket == nil {
		x.enter(d, parent)
	}
	d.cell, d.circle = cell, inscribed(cell)
	x.set(d, fix, p)
	x.accepted.Add(1)
	x.moved.Add(1)
	return Moved
}

// point is a fix's position in the forms distances need.
type point struct {
	φ, λ, cosφ float64
	v          vec3
}

// set makes fix, at p, the position of d, which is in a bucket.
func (x *Index) set(d *driver, fix Fix, p point) {
	d.fix, d.φ, d.λ, d.cosφ = fix, p.φ, p.λ, p.cosφ
	x.all[d.pos].v = p.v
	d.bucket.drivers[d.slot].v = p.v
}

// enter puts d into the bucket of cell.
func (x *Index) enter(d *driver, cell h3.Cell) {
	b := x.buckets[cell]
	if b == nil {
		b = &bucket{cell: cell}
		x.buckets[cell] = b
	}
	d.bucket, d.slot = b, len(b.drivers)
	b.drivers = append(b.drivers, member{d: d})
}

// leave takes d out of its bucket, and drops the bucket once empty.
func (x *Index) leave(d *driver) {
	b := d.bucket
	last := len(b.drivers) - 1
	moved := b.drivers[last]
	b.drivers[d.slot], moved.d.slot = moved, d.slot
	b.drivers[last] = member{}
	b.drivers = b.drivers[:last]
	if last == 0 {
		delete(x.buckets, b.cell)
	}
	d.bucket = nil
}

// circle is the inscribed circle of a cell: a fix closer than inner to the centre is in the
// cell without asking H3 (which costs two allocations and a microsecond).
type circle struct {
	φ, λ, cosφ float64 // centre
	inner      float64 // metres
}

// inscribed measures the inscribed circle of cell. H3 cells are spherical polygons whose
// edges are great-circle arcs between the vertices CellToBoundary lists (the gnomonic
// projection of each icosahedron face maps the planar hexagon grid's straight edges to
// great circles, and class III cells list the points where an edge crosses a face edge as
// vertices of their own). The open disk around the centre with the distance to the nearest
// edge as radius meets no edge and holds the centre, so it lies in the cell; a part per
// million is taken off for rounding. Should H3 fail, inner is 0 and H3 is always asked.
func inscribed(cell h3.Cell) circle {
	centre, err := h3.CellToLatLng(cell)
	if err != nil {
		return circle{}
	}
	boundary, err := h3.CellToBoundary(cell)
	if err != nil || len(boundary) < 3 {
		return circle{}
	}
	c := circle{φ: centre.Lat * degree, λ: centre.Lng * degree}
	c.cosφ = math.Cos(c.φ)
	v := unitVec(c.φ, c.λ)
	ρ := math.Inf(1)
	for i, a := range boundary {
		b := boundary[(i+1)%len(boundary)]
		ρ = math.Min(ρ, arcDistance(v, unitVec(a.Lat*degree, a.Lng*degree), unitVec(b.Lat*degree, b.Lng*degree)))
	}
	c.inner = ρ * EarthRadius * (1 - 1e-6)
	return c
}

// Remove drops a driver from the index; an unknown driver is ignored.
func (x *Index) Remove(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d, ok := x.drivers[id]
	if !ok {
		return
	}
	x.leave(d)
	last := len(x.all) - 1
	moved := x.all[last]
	x.all[d.pos], moved.d.pos = moved, d.pos
	x.all[last] = member{}
	x.all = x.all[:last]
	delete(x.drivers, id)
	x.count.Add(-1)
}

// Len returns the number of drivers in the index.
func (x *Index) Len() int { return int(x.count.Load()) }

// Position returns a driver's last accepted fix.
func (x *Index) Position(id string) (Fix, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if d, ok := x.drivers[id]; ok {
		return d.fix, true
	}
	return Fix{}, false
}

// Stats returns the counters; it takes no lock.
func (x *Index) Stats() IndexStats {
	return IndexStats{
		Accepted:   x.accepted.Load(),
		Moved:      x.moved.Load(),
		Stale:      x.stale.Load(),
		OutOfOrder: x.outOfOrder.Load(),
		Jump:       x.jump.Load(),
		Invalid:    x.invalid.Load(),
		Drivers:    x.Len(),
	}
}

// ringGaps[m] times the average hexagon edge of a resolution is a lower bound on the distance
// between two cells at grid distance m, anywhere on the globe (m = 2…8; cells at distance
// 0 or 1 touch). Nearest stops on it (see bound).
//
// The values are 85% of the least distances measured, as multiples of HexagonEdgeLengthAvgM:
// between every cell and all cells 2-8 away at resolutions 1-3; the same around all 12
// pentagons (8 rings) at resolutions 5 and 7-15, where the grid is most shrunk (the gnomonic
// projection of an icosahedron face is smallest at its corners) and the least distances are
// found; and, for m = 2, the shortest edge of every cell of resolutions 0-6 (for m = 2 the
// closest cells are the two beyond the ends of one edge). The least distances settle by
// resolution 5 at 0.703, 1.851, 2.811, 3.875, 4.920, 5.958, 7.029 (class III resolutions;
// class II ones are a few percent farther apart). TestRingGap keeps checking the table
// around the pentagons and at random, at eight resolutions from 0 to 15.
var ringGaps = [...]float64{0, 0, 0.59, 1.57, 2.38, 3.29, 4.18, 5.06, 5.97}

// bound returns a lower bound on the distance from any point of the query's cell c0 to any
// point of a cell at grid distance more than r from c0.
//
// H3 tiles the sphere with cells meeting three at a vertex, pentagons included, and the three
// are pairwise neighbours. Let g be the grid distance of a cell from c0. Along the great
// circle arc from a point q of c0 to a point p of a cell with g ≥ r+1, the cell under the arc
// changes only to a neighbour or, at a vertex, among pairwise neighbours, so g changes by at
// most one at a time. Let t_r be where the arc first reaches a cell with g = r+1, and going
// back, t_j the last point before t_{j+1} on a cell with g ≤ j (j = r-1…0); past t_j the arc
// is on cells with g > j only, so t_j lies on a cell with g = j and on one with g = j+1. Then
// t_a (on a cell with g = a) and t_b (on one with g = b+1) lie on cells at grid distance at
// least b+1-a apart, and |t_a t_b| ≥ gap(b+1-a), the least distance between cells that far
// apart: the first point of a shortest arc between two such cells that is on a cell m = b+1-a
// from the start is on a cell exactly m away, by the same one-step argument. Cutting t_0…t_r
// into pieces of 7 steps and a remainder, |qp| ≥ ⌊r/7⌋·gap(8) + gap(r mod 7 + 1).
func (x *Index) bound(r int) float64 {
	const step = len(ringGaps) - 2
	return float64(r/step)*x.gaps[step+1] + x.gaps[r%step+1]
}

// Nearest appends to dst[:0] up to k drivers accepted by accept (nil accepts all) and at
// most maxMeters away (≤ 0: no limit), closest first by Haversine distance, ties by driver
// id, and returns it. It walks the rings of buckets around the query's bucket and stops once
// no farther ring can hold a closer driver than the k-th found (see bound), or when it has
// seen every driver; when the rings would cost more than a full scan, or meet a pentagon, it
// scans every driver as BruteNearest does, with the same result. accept runs under the
// index's read lock: it must not call the Index. It allocates only in H3 (a few times).
func (x *Index) Nearest(lat, lng float64, k int, maxMeters float64, accept func(driver string) bool, dst []Candidate) []Candidate {
	q, ok := newQuery(lat, lng, k, maxMeters, accept, dst)
	if !ok {
		return q.best
	}
	budget := min(x.Len()/ringCellCost, h3.NumCells(x.searchRes)/16)
	var origin h3.Cell
	var err error
	if budget >= 7 { // the first ring
		origin, err = h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, x.searchRes)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if budget < 7 || err != nil || !x.walk(&q, origin, budget) {
		q.best = q.best[:0]
		x.scan(&q)
	}
	return q.best
}

// BruteNearest returns what Nearest returns, by measuring the distance to every driver. It is
// the reference of the tests and the baseline of the benchmarks.
func (x *Index) BruteNearest(lat, lng float64, k int, maxMeters float64, accept func(driver string) bool, dst []Candidate) []Candidate {
	q, ok := newQuery(lat, lng, k, maxMeters, accept, dst)
	if !ok {
		return q.best
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.scan(&q)
	return q.best
}

func (x *Index) scan(q *query) {
	for _, m := range x.all {
		q.consider(m)
	}
}

// ringCellCost is what visiting one cell of a ring costs (H3 computing it, one map lookup),
// counted in drivers ruled out by a full scan (about 50 ns against 5). Nearest walks rings
// while they cost less than measuring every driver.
const ringCellCost = 10

// walk runs the ring search around origin, the query's bucket. It gives up, returning false,
// when a ring meets a pentagon, and as soon as the disk of rings it would need to walk holds
// more than budget cells; q then needs a full scan.
//
// Rings come from GridRingUnsafe, which fails when the ring holds a pentagon or does not
// close up because one lies inside (a pentagon's missing sector). GridRing would then fall
// back to a search of the whole disk, repeated for every ring, which costs far more than a
// full scan; the pentagons are in the oceans anyway. A ring that encloses six pentagons
// could close up by chance, so Nearest also keeps the budget below a sixteenth of the
// globe's cells (a disk of that size cannot reach around six of the icosahedron's vertices).
func (x *Index) walk(q *query, origin h3.Cell, budget int) bool {
	n := len(x.all)
	if n == 0 {
		return true
	}
	last := 0 // the last ring within budget
	for 3*(last+1)*(last+2)+1 <= budget {
		last++
	}
	seen := 0
	ring := [1]h3.Cell{origin}
	cells := ring[:]
	for r := 0; ; r++ {
		if r > 0 {
			var err error
			if cells, err = h3.GridRingUnsafe(origin, r); err != nil || len(cells) != 6*r {
				return false
			}
		}
		for _, c := range cells {
			if b := x.buckets[c]; b != nil {
				for _, m := range b.drivers {
					q.consider(m)
				}
				seen += len(b.drivers)
			}
		}
		if seen == n {
			return true
		}
		// Every driver not seen yet is in a cell more than r away, at least bound(r) away.
		reach := q.max
		if len(q.best) == q.k {
			reach = min(reach, q.best[q.k-1].Meters)
		}
		if x.bound(r) > reach {
			return true
		}
		// Give up now if even the last ring within budget cannot settle the search.
		if r == last || !math.IsInf(reach, 1) && x.bound(last) <= reach {
			return false
		}
	}
}

// query is one nearest-driver search; best is kept sorted.
type query struct {
	φ, λ, cosφ float64
	v          vec3
	k          int
	max        float64
	accept     func(string) bool
	best       []Candidate
	// limit is the squared chord beyond which a driver can be neither within max nor closer
	// than the k-th best: a few flops rule most drivers out before any trigonometry.
	limit float64
}

func newQuery(lat, lng float64, k int, maxMeters float64, accept func(string) bool, dst []Candidate) (query, bool) {
	q := query{k: k, max: maxMeters, accept: accept, best: dst[:0]}
	if k <= 0 || !(lat >= -90 && lat <= 90) || math.IsNaN(lng) || math.IsInf(lng, 0) || math.IsNaN(maxMeters) {
		return q, false
	}
	if maxMeters <= 0 {
		q.max = math.Inf(1)
	}
	q.φ, q.λ = lat*degree, lng*degree
	sinφ, cosφ := math.Sincos(q.φ)
	sinλ, cosλ := math.Sincos(q.λ)
	q.cosφ, q.v = cosφ, vec3{cosφ * cosλ, cosφ * sinλ, sinφ}
	q.limit = chordLimit(q.max)
	return q, true
}

// chordLimit returns a squared chord of the unit sphere that every driver at most metres
// away (by haversine) is within: the chord of the arc, plus 1e-12 (6 µm) for the rounding
// of both computations, which is below 1e-15.
func chordLimit(metres float64) float64 {
	if metres >= math.Pi*EarthRadius {
		return math.Inf(1)
	}
	c := 2*math.Sin(metres/(2*EarthRadius)) + 1e-12
	return c * c
}

// consider adds a driver to best if it is among the k closest accepted so far.
func (q *query) consider(c member) {
	dx, dy, dz := c.v.x-q.v.x, c.v.y-q.v.y, c.v.z-q.v.z
	if dx*dx+dy*dy+dz*dz > q.limit {
		return
	}
	d := c.d
	m := haversine(q.φ, q.cosφ, q.λ, d.φ, d.cosφ, d.λ)
	if m > q.max {
		return
	}
	n := len(q.best)
	if n == q.k && !closer(m, d.id, &q.best[n-1]) {
		return
	}
	if q.accept != nil && !q.accept(d.id) {
		return
	}
	lo, hi := 0, n // first candidate that d is closer than
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if closer(m, d.id, &q.best[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if n < q.k {
		q.best = append(q.best, Candidate{})
	}
	copy(q.best[lo+1:], q.best[lo:len(q.best)-1])
	q.best[lo] = Candidate{Driver: d.id, Meters: m, Fix: d.fix}
	if len(q.best) == q.k {
		q.limit = chordLimit(q.best[q.k-1].Meters)
	}
}

// closer orders candidates by distance, then driver id.
func closer(m float64, id string, c *Candidate) bool {
	return m < c.Meters || m == c.Meters && id < c.Driver
}
