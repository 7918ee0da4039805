package geo

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	h3 "github.com/uber/h3-go/v4"
)

var seedFlag = flag.Uint64("geo.seed", 0, "seed for the randomised geo tests (0: pick one)")

// newRand returns a seeded generator. The seed is logged if the test fails. Pass
// -geo.seed=N to replay it.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./geo/ -run '^%s$' -geo.seed=%d", t.Name(), seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func TestHaversine(t *testing.T) {
	const eps = 1e-6
	deg := EarthRadius * math.Pi / 180 // metres per degree of a great circle

	assert.InDelta(t, 274e3, Haversine(38.7223, -9.1393, 41.1579, -8.6291), 1e3, "Lisbon-Porto")
	assert.InDelta(t, 0.02*deg, Haversine(0, 179.99, 0, -179.99), eps, "across the antimeridian")
	assert.InDelta(t, 0.02*deg*math.Cos(16.5*degree), Haversine(-16.5, -179.99, -16.5, 179.99), 0.01, "across the antimeridian, south")
	assert.InDelta(t, Haversine(10, 170, 12, -175), Haversine(10, 170, 12, 185), eps, "longitudes past 180 wrap")
	assert.InDelta(t, 0, Haversine(90, 0, 90, 123), eps, "every longitude of the pole is the pole")
	assert.InDelta(t, 0.02*deg, Haversine(89.99, 0, 89.99, 180), eps, "over the north pole")
	assert.InDelta(t, 0.02*deg, Haversine(-89.99, -90, -89.99, 90), eps, "over the south pole")
	assert.InDelta(t, 90*deg, Haversine(0, 0, 0, 90), eps, "quarter of the equator")
	assert.InDelta(t, 180*deg, Haversine(90, 0, -90, 0), eps, "pole to pole")
	assert.InDelta(t, 180*deg, Haversine(0, 0, 0, 180), eps, "antipodes")
	assert.Zero(t, Haversine(38.7, -9.1, 38.7, -9.1))

	r := newRand(t)
	for range 1000 {
		lat1, lng1, lat2, lng2 := r.Float64()*180-90, r.Float64()*360-180, r.Float64()*180-90, r.Float64()*360-180
		d := Haversine(lat1, lng1, lat2, lng2)
		require.Equal(t, d, Haversine(lat2, lng2, lat1, lng1), "symmetric, bit for bit")
		require.True(t, d >= 0 && d <= math.Pi*EarthRadius)
		// The chord through the Earth agrees.
		a, b := unitVec(lat1*degree, lng1*degree), unitVec(lat2*degree, lng2*degree)
		require.InDelta(t, angle(a, b)*EarthRadius, d, 1e-3)
	}

	if !raceEnabled {
		allocs := testing.AllocsPerRun(100, func() { _ = Haversine(38.7, -9.1, 41.1, -8.6) })
		assert.Zero(t, allocs)
	}
}

func TestArcDistance(t *testing.T) {
	v := func(lat, lng float64) vec3 { return unitVec(lat*degree, lng*degree) }
	a, b := v(0, 0), v(0, 10) // along the equator
	assert.InDelta(t, 0, arcDistance(v(0, 5), a, b), 1e-15, "on the arc")
	assert.InDelta(t, 3*degree, arcDistance(v(3, 5), a, b), 1e-15, "north of it")
	assert.InDelta(t, 3*degree, arcDistance(v(-3, 5), a, b), 1e-15, "south of it")
	assert.InDelta(t, 2*degree, arcDistance(v(0, 12), a, b), 1e-15, "past its end")
	assert.InDelta(t, angle(v(1, -1), a), arcDistance(v(1, -1), a, b), 1e-15, "before its start")
	// A 0.5 m arc, as at resolution 15: 0.25 m off its middle.
	m := 0.5 / EarthRadius / degree
	assert.InDelta(t, 0.25, arcDistance(v(40+m/2, 7+m/2), v(40, 7), v(40, 7+m))*EarthRadius, 1e-6)
}

func TestIndexConfig(t *testing.T) {
	x, err := NewIndex(IndexConfig{})
	require.NoError(t, err)
	assert.Equal(t, DefaultResolution, x.Resolution())
	assert.Equal(t, DefaultMaxFixAge.Milliseconds(), x.maxAge)
	assert.Equal(t, DefaultMaxSpeed, x.maxSpeed)

	x, err = NewIndex(IndexConfig{Resolution: 15, MaxFixAge: time.Second, MaxSpeed: 340})
	require.NoError(t, err)
	assert.Equal(t, 15, x.Resolution())

	for cfg, want := range map[IndexConfig]string{
		{Resolution: 16}:               "dispatch.h3_resolution: must be 1-15 (or 0 for the default, 9), got 16",
		{Resolution: -1}:               "dispatch.h3_resolution: must be 1-15 (or 0 for the default, 9), got -1",
		{MaxFixAge: -time.Second}:      "dispatch.max_fix_age: must be between 1s and 24h0m0s, got -1s",
		{MaxFixAge: 25 * time.Hour}:    "dispatch.max_fix_age: must be between 1s and 24h0m0s, got 25h0m0s",
		{MaxSpeed: -3}:                 "dispatch.max_speed: must be 1-340 (m/s), got -3",
		{MaxSpeed: math.Inf(1)}:        "dispatch.max_speed: must be 1-340 (m/s), got +Inf",
		{MaxSpeed: 1e4, Resolution: 3}: "dispatch.max_speed: must be 1-340 (m/s), got 10000",
	} {
		err := cfg.Validate()
		require.Error(t, err, "%+v", cfg)
		assert.True(t, errors.Is(err, ErrInvalidConfig))
		assert.Contains(t, err.Error(), want)
		_, err = NewIndex(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig)
	}
	err = IndexConfig{MaxSpeed: math.NaN()}.Validate()
	assert.ErrorContains(t, err, "dispatch.max_speed: must be 1-340 (m/s), got NaN")

	err = IndexConfig{Resolution: 99, MaxSpeed: -1}.Validate()
	assert.ErrorContains(t, err, "dispatch.h3_resolution")
	assert.ErrorContains(t, err, "dispatch.max_speed", "every invalid key is reported")
}

func newTestIndex(t testing.TB, res int) *Index {
	t.Helper()
	x, err := NewIndex(IndexConfig{Resolution: res})
	require.NoError(t, err)
	return x
}

// fixAt is a fix at lat, lng taken sec seconds after now. Its optional readings are set, not
// NaN, so that results compare equal.
func fixAt(lat, lng float64, sec int64) Fix {
	return Fix{Lat: lat, Lng: lng, At: now.UnixMilli() + sec*1000, Speed: 8, Heading: 90, Accuracy: 5}
}

// nowAt is the time sec seconds after now.
func nowAt(sec int64) time.Time { return now.Add(time.Duration(sec) * time.Second) }

func TestUpdateRefuses(t *testing.T) {
	x := newTestIndex(t, 9)
	const lat, lng = 38.7223, -9.1393

	assert.Equal(t, Moved, x.Update("d1", fixAt(lat, lng, 0), nowAt(0)), "first fix enters a cell")
	assert.Equal(t, Stale, x.Update("d2", fixAt(lat, lng, -121), nowAt(0)), "older than 2m")
	assert.Equal(t, Moved, x.Update("d2", fixAt(lat, lng, -120), nowAt(0)), "exactly 2m old is fresh")
	assert.Equal(t, Stale, x.Update("d1", fixAt(lat, lng, 100), nowAt(300)))
	assert.Equal(t, OutOfOrder, x.Update("d1", fixAt(lat, lng, 0), nowAt(0)), "same timestamp again")
	assert.Equal(t, OutOfOrder, x.Update("d1", fixAt(lat, lng, -1), nowAt(0)), "older than the last accepted")

	// 70 m/s allowed: 10 s buy 700 m.
	north := func(metres float64) float64 { return lat + metres/EarthRadius/degree }
	assert.Equal(t, Jump, x.Update("d1", fixAt(north(705), lng, 10), nowAt(10)))
	assert.Equal(t, Jump, x.Update("d1", fixAt(-lat, lng, 3600), nowAt(3600)), "the other hemisphere in an hour")
	assert.Equal(t, Accepted, x.Update("d1", fixAt(north(1), lng, 10), nowAt(10)))
	assert.Equal(t, Moved, x.Update("d1", fixAt(north(695), lng, 20), nowAt(20)), "695 m in 10 s leaves the 174 m cell")

	assert.Equal(t, Invalid, x.Update("d1", fixAt(91, lng, 30), nowAt(30)))
	assert.Equal(t, Invalid, x.Update("d1", fixAt(lat, math.NaN(), 30), nowAt(30)))
	assert.Equal(t, Invalid, x.Update("d3", fixAt(lat, 180.5, 30), nowAt(30)))

	fix, ok := x.Position("d1")
	require.True(t, ok)
	assert.Equal(t, north(695), fix.Lat, "refused fixes leave the position")
	assert.Equal(t, now.UnixMilli()+20000, fix.At)
	_, ok = x.Position("d3")
	assert.False(t, ok, "a driver whose fixes were all refused is not indexed")

	assert.Equal(t, IndexStats{Accepted: 4, Moved: 3, Stale: 2, OutOfOrder: 2, Jump: 2, Invalid: 3, Drivers: 2}, x.Stats())
	assert.Equal(t, "out_of_order", OutOfOrder.String())
	assert.Equal(t, "moved", Moved.String())
	assert.Equal(t, "unknown", UpdateResult(0).String())
	assert.True(t, Moved.OK() && Accepted.OK() && !Jump.OK() && !UpdateResult(0).OK())
}

func TestUpdateMovesOnlyOnCellChange(t *testing.T) {
	r := newRand(t)
	x := newTestIndex(t, 9)
	const id = "driver-1"
	lat, lng := 38.7223, -9.1393
	require.Equal(t, Moved, x.Update(id, fixAt(lat, lng, 0), nowAt(0)))
	x.Update("other", fixAt(lat, lng, 0), nowAt(0))

	moves := uint64(1)
	cell := x.drivers[id].cell
	for i := int64(1); i <= 2000; i++ {
		// Wander 0-20 m a second.
		bearing := r.Float64() * 2 * math.Pi
		step := r.Float64() * 20 / EarthRadius / degree
		lat += step * math.Cos(bearing)
		lng += step * math.Sin(bearing) / math.Cos(lat*degree)
		before := x.drivers[id].bucket
		res := x.Update(id, fixAt(lat, lng, i), nowAt(i))
		want, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, 9)
		require.NoError(t, err)
		d := x.drivers[id]
		require.Equal(t, want, d.cell, "step %d", i)
		parent, err := want.Parent(8)
		require.NoError(t, err)
		require.Equal(t, parent, d.bucket.cell, "step %d", i)
		switch {
		case want == cell:
			require.Equal(t, Accepted, res, "step %d", i)
			require.Same(t, before, d.bucket, "the bucket is untouched within a cell")
		case parent == before.cell:
			require.Equal(t, Moved, res, "step %d", i)
			require.Same(t, before, d.bucket, "a move within the bucket's cell keeps the bucket")
			moves++
			cell = want
		default:
			require.Equal(t, Moved, res, "step %d", i)
			moves++
			cell = want
		}
	}
	checkIndex(t, x)
	require.Greater(t, moves, uint64(5), "the walk crossed cells")
	st := x.Stats()
	assert.Equal(t, moves+1, st.Moved, "one move per cell change, and the other driver's first fix")
	assert.Equal(t, uint64(2001+1), st.Accepted)
	assert.Equal(t, 2, st.Drivers)
}

func TestUpdateSameCellDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are asserted in the race-free pass of make test")
	}
	x := newTestIndex(t, 9)
	c, err := h3.LatLngToCell(h3.LatLng{Lat: 38.7223, Lng: -9.1393}, 9)
	require.NoError(t, err)
	centre, err := c.LatLng()
	require.NoError(t, err)
	require.Equal(t, Moved, x.Update("driver-1", fixAt(centre.Lat, centre.Lng, 0), nowAt(0)))
	sec := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		sec++
		if res := x.Update("driver-1", fixAt(centre.Lat+float64(sec%2)*1e-4, centre.Lng, sec), nowAt(sec)); res != Accepted {
			t.Fatal(res)
		}
	})
	assert.Zero(t, allocs)
}

// TestInscribedCircle checks the shortcut of Update: a point closer to a cell's centre than
// bucket.inner is in the cell, at every resolution, anywhere, on pentagons too.
func TestInscribedCircle(t *testing.T) {
	r := newRand(t)
	check := func(cell h3.Cell) {
		b := inscribed(cell)
		require.Positive(t, b.inner, "%v", cell)
		for range 20 {
			// A point at distance f×inner in a random direction, f near 1 mostly.
			f := 1 - math.Pow(r.Float64(), 4)
			lat, lng := destination(b.φ/degree, b.λ/degree, r.Float64()*360, f*b.inner)
			got, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, cell.Resolution())
			require.NoError(t, err)
			require.Equal(t, cell, got, "res %d centre %v,%v point %v,%v at %.6f of inner %.3f", cell.Resolution(), b.φ/degree, b.λ/degree, lat, lng, f, b.inner)
		}
	}
	for res := range 16 {
		pentagons, err := h3.Pentagons(res)
		require.NoError(t, err)
		for _, p := range pentagons {
			check(p)
		}
		for range 200 {
			lat, lng := uniformSphere(r)
			c, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, res)
			require.NoError(t, err)
			check(c)
		}
	}
}

// TestRingGap backs ringGaps at resolutions where checking every cell would take too long:
// around the pentagons, where cells are smallest, and elsewhere at random, cells at grid
// distance m are farther apart than ringGaps[m] average edges.
func TestRingGap(t *testing.T) {
	r := newRand(t)
	least := make([]float64, len(ringGaps))
	for m := range least {
		least[m] = math.Inf(1)
	}
	resolutions := []int{0, 1, 2, 5, 8, 9, 12, 15}
	if testing.Short() || raceEnabled {
		resolutions = []int{2, 9, 15}
	}
	boundaries := map[h3.Cell][]vec3{}
	boundary := func(c h3.Cell) []vec3 {
		if b, ok := boundaries[c]; ok {
			return b
		}
		b := boundary(t, c)
		boundaries[c] = b
		return b
	}
	for _, res := range resolutions {
		edge, err := h3.HexagonEdgeLengthAvgM(res)
		require.NoError(t, err)
		var origins []h3.Cell
		pentagons, err := h3.Pentagons(res)
		require.NoError(t, err)
		for _, p := range pentagons {
			disk, err := p.GridDisk(min(res, 2))
			require.NoError(t, err)
			origins = append(origins, disk...)
		}
		for range 10 {
			lat, lng := uniformSphere(r)
			c, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, res)
			require.NoError(t, err)
			origins = append(origins, c)
		}
		for _, c := range origins {
			a := boundary(c)
			for m := 2; m < len(ringGaps); m++ {
				far, err := c.GridRing(m)
				require.NoError(t, err)
				for _, f := range far {
					gap := polylineGap(a, boundary(f)) * EarthRadius / edge
					least[m] = math.Min(least[m], gap)
					require.Greater(t, gap, ringGaps[m], "res %d cells %v %v at grid distance %d", res, c, f, m)
				}
			}
		}
	}
	t.Logf("least distance between cells at grid distance m, in average edges: %.3f", least[2:])
}

func TestBound(t *testing.T) {
	x := newTestIndex(t, 9)
	assert.Zero(t, x.bound(0))
	for r := 1; r < 100; r++ {
		require.Greater(t, x.bound(r), x.bound(r-1), "r %d", r)
		// Any split of the r steps into pieces gives a lower bound; bound is at least as
		// good as splitting into single steps.
		require.GreaterOrEqual(t, x.bound(r), float64(r)*x.gaps[2])
	}
	assert.Equal(t, x.gaps[8]+x.gaps[3], x.bound(9))
}

func boundary(t testing.TB, c h3.Cell) []vec3 {
	bd, err := c.Boundary()
	require.NoError(t, err)
	out := make([]vec3, len(bd))
	for i, v := range bd {
		out[i] = unitVec(v.Lat*degree, v.Lng*degree)
	}
	return out
}

// polylineGap is the angular distance between two closed polylines that do not cross: the
// least distance from a vertex of one to an arc of the other.
func polylineGap(a, b []vec3) float64 {
	gap := math.Inf(1)
	for _, pair := range [2][2][]vec3{{a, b}, {b, a}} {
		p, q := pair[0], pair[1]
		for _, v := range p {
			for j := range q {
				gap = math.Min(gap, arcDistance(v, q[j], q[(j+1)%len(q)]))
			}
		}
	}
	return gap
}

func TestRemove(t *testing.T) {
	x := newTestIndex(t, 9)
	// Three buckets 4 km apart: 0 3 6 9 | 1 4 7 | 2 5 8.
	for i := range 10 {
		require.Equal(t, Moved, x.Update(strconv.Itoa(i), fixAt(38.72, -9.14+float64(i%3)*0.05, 0), nowAt(0)))
	}
	require.Equal(t, 10, x.Len())
	require.Len(t, x.buckets, 3)

	x.Remove("nobody")
	x.Remove("4")
	x.Remove("0")
	x.Remove("0")
	assert.Equal(t, 8, x.Len())
	assert.Equal(t, 8, x.Stats().Drivers)
	_, ok := x.Position("4")
	assert.False(t, ok)
	for _, id := range []string{"3", "9", "6"} {
		x.Remove(id)
	}
	assert.Len(t, x.buckets, 2, "a bucket goes with its last driver")
	x.Remove("1")
	x.Remove("7")
	assert.Len(t, x.buckets, 1)
	checkIndex(t, x)
	var ids []string
	for _, c := range x.Nearest(38.72, -9.14+0.1, 10, 0, nil, nil) {
		ids = append(ids, c.Driver)
	}
	assert.Equal(t, []string{"2", "5", "8"}, ids, "equidistant drivers in id order")

	assert.Equal(t, Moved, x.Update("4", fixAt(38.72, -9.14, 1), nowAt(1)), "a removed driver comes back as new")
	assert.Equal(t, 4, x.Len())
	assert.Equal(t, IndexStats{Accepted: 11, Moved: 11, Drivers: 4}, x.Stats())
	checkIndex(t, x)
}

// checkIndex checks the invariants of x: every driver is once in all, in the bucket of the
// parent of its cell, at its slot and position, with its position on the unit sphere.
func checkIndex(t *testing.T, x *Index) {
	t.Helper()
	x.mu.RLock()
	defer x.mu.RUnlock()
	require.Len(t, x.all, len(x.drivers))
	require.Equal(t, len(x.all), x.Len())
	inBuckets := 0
	for cell, b := range x.buckets {
		require.Equal(t, cell, b.cell)
		require.NotEmpty(t, b.drivers, "empty buckets are dropped")
		inBuckets += len(b.drivers)
	}
	require.Equal(t, len(x.all), inBuckets)
	for i, m := range x.all {
		d := m.d
		require.Equal(t, i, d.pos)
		require.Same(t, d, x.drivers[d.id])
		require.Same(t, d, d.bucket.drivers[d.slot].d)
		require.Same(t, d.bucket, x.buckets[d.bucket.cell])
		v := unitVec(d.fix.Lat*degree, d.fix.Lng*degree)
		require.InDelta(t, 0, m.v.sub(v).norm(), 1e-15)
		require.Equal(t, m.v, d.bucket.drivers[d.slot].v)
		cell, err := h3.LatLngToCell(h3.LatLng{Lat: d.fix.Lat, Lng: d.fix.Lng}, x.res)
		require.NoError(t, err)
		require.Equal(t, cell, d.cell)
		parent, err := cell.Parent(x.searchRes)
		require.NoError(t, err)
		require.Equal(t, parent, d.bucket.cell)
	}
}

func TestUpdateCopiesTheID(t *testing.T) {
	x := newTestIndex(t, 9)
	buf := []byte("driver-1")
	// A string over a buffer its owner reuses, as a zero-copy decoder would pass.
	x.Update(unsafe.String(&buf[0], len(buf)), fixAt(38.72, -9.14, 0), nowAt(0))
	copy(buf, "xxxxxxxx")
	got := x.Nearest(38.72, -9.14, 1, 0, nil, nil)
	require.Len(t, got, 1)
	assert.Equal(t, "driver-1", got[0].Driver)
	_, ok := x.Position("driver-1")
	assert.True(t, ok)
}

// A driver set and how to draw query points for it.
type scenario struct {
	name    string
	res     []int
	drivers int
	point   func(r *rand.Rand) (lat, lng float64)
	maxM    float64 // scale of maxMeters
}

// inDisk draws a point uniformly from the disk of radius metres around lat, lng.
func inDisk(lat, lng, metres float64) func(r *rand.Rand) (float64, float64) {
	return func(r *rand.Rand) (float64, float64) {
		return destination(lat, lng, r.Float64()*360, metres*math.Sqrt(r.Float64()))
	}
}

func uniformSphere(r *rand.Rand) (lat, lng float64) {
	return math.Asin(2*r.Float64()-1) / degree, r.Float64()*360 - 180
}

// destination returns the point metres away from lat, lng in the direction bearing (degrees
// clockwise from north), with the longitude in [-180, 180].
func destination(lat, lng, bearing, metres float64) (float64, float64) {
	φ1, λ1, θ, δ := lat*degree, lng*degree, bearing*degree, metres/EarthRadius
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	lng2 := math.Remainder(λ2/degree, 360)
	return math.Max(-90, math.Min(90, φ2/degree)), lng2
}

// mixed draws from one of the functions, picked at random.
func mixed(fs ...func(r *rand.Rand) (float64, float64)) func(r *rand.Rand) (float64, float64) {
	return func(r *rand.Rand) (float64, float64) { return fs[r.IntN(len(fs))](r) }
}

func scenarios(t testing.TB) []scenario {
	pentagon := func(res, i int) (float64, float64) {
		ps, err := h3.Pentagons(res)
		require.NoError(t, err)
		ll, err := ps[i%len(ps)].LatLng()
		require.NoError(t, err)
		return ll.Lat, ll.Lng
	}
	p9lat, p9lng := pentagon(9, 3)
	p5lat, p5lng := pentagon(5, 7)
	return []scenario{
		{"global", []int{1, 3, 5}, 3000, uniformSphere, 3e6},
		{"city", []int{9, 8, 11}, 4000, inDisk(38.7223, -9.1393, 25e3), 20e3},
		{"antimeridian", []int{9, 7}, 3000, mixed(inDisk(-16.5, 179.99, 15e3), inDisk(-16.5, -179.99, 15e3), inDisk(65.5, 180, 20e3)), 20e3},
		{"lat85", []int{9, 6}, 3000, mixed(inDisk(85, 30, 40e3), inDisk(-85, -150, 40e3)), 40e3},
		{"poles", []int{8, 10, 4}, 3000, mixed(inDisk(90, 0, 30e3), inDisk(-90, 0, 30e3), inDisk(89.9, 179.9, 2e3)), 30e3},
		{"pentagon", []int{9, 10}, 3000, mixed(inDisk(p9lat, p9lng, 4e3), inDisk(p9lat, p9lng, 400)), 4e3},
		{"pentagon-coarse", []int{5, 6}, 3000, inDisk(p5lat, p5lng, 150e3), 150e3},
		{"sparse-city", []int{9}, 300, inDisk(52.52, 13.405, 10e3), 10e3},
	}
}

// TestNearestMatchesBrute is the property test of Nearest: on driver sets spread over the
// globe, clustered in a city, across the antimeridian, near the poles and around pentagons,
// at several resolutions, Nearest returns exactly what BruteNearest returns. The ring walk
// is also checked on its own, without the fall-back to a full scan.
func TestNearestMatchesBrute(t *testing.T) {
	queries := 200
	if testing.Short() || raceEnabled {
		queries = 40
	}
	special := [][2]float64{{90, 0}, {-90, 0}, {90, 180}, {0, 180}, {0, -180}, {-16.5, 180}, {-16.5, -180}, {65.5, -180}, {85, 30}, {-85, -150}}
	for res := range 16 {
		pentagons, err := h3.Pentagons(res)
		require.NoError(t, err)
		ll, err := pentagons[3].LatLng()
		require.NoError(t, err)
		special = append(special, [2]float64{ll.Lat, ll.Lng})
	}
	for _, sc := range scenarios(t) {
		for _, res := range sc.res {
			t.Run(fmt.Sprintf("%s/res=%d", sc.name, res), func(t *testing.T) {
				r := newRand(t)
				x := newTestIndex(t, res)
				for i := range sc.drivers {
					lat, lng := sc.point(r)
					require.Equal(t, Moved, x.Update(fmt.Sprintf("d%05d", i), fixAt(lat, lng, 0), nowAt(0)))
				}
				checkIndex(t, x)
				if r.IntN(2) == 0 { // duplicates and coincident drivers make ties
					for i := range 20 {
						src := x.all[r.IntN(len(x.all))].d
						x.Update(fmt.Sprintf("t%02d", i), src.fix, nowAt(0))
					}
				}
				var dst, want []Candidate
				walked := 0
				for range queries {
					lat, lng := sc.point(r)
					switch r.IntN(10) {
					case 0: // anywhere
						lat, lng = uniformSphere(r)
					case 1: // on a driver
						d := x.all[r.IntN(len(x.all))].d
						lat, lng = d.fix.Lat, d.fix.Lng
					case 2: // a pole, the antimeridian, a pentagon
						p := special[r.IntN(len(special))]
						lat, lng = p[0], p[1]
					}
					k := []int{1, 1, 2, 3, 8, 8, 20, 100}[r.IntN(8)]
					maxM := 0.0
					if r.IntN(3) == 0 {
						maxM = sc.maxM * r.Float64() * r.Float64()
					}
					var accept func(string) bool
					if r.IntN(3) == 0 {
						mod := uint32(2 + r.IntN(5))
						accept = func(id string) bool { h := fnv.New32a(); h.Write([]byte(id)); return h.Sum32()%mod == 0 }
					}
					msg := fmt.Sprintf("query %v,%v k=%d max=%v filtered=%v", lat, lng, k, maxM, accept != nil)

					want = x.BruteNearest(lat, lng, k, maxM, accept, want)
					dst = x.Nearest(lat, lng, k, maxM, accept, dst)
					requireSame(t, want, dst, msg)

					if got, ok := ringNearest(x, lat, lng, k, maxM, accept); ok {
						walked++
						requireSame(t, want, got, "ring walk only: "+msg)
					}
					checkCandidates(t, x, lat, lng, k, maxM, accept, want, msg)
				}
				t.Logf("%d of %d queries answered by the ring walk alone", walked, queries)
			})
		}
	}
}

// requireSame requires the same candidates in the same order; nil and empty are the same.
func requireSame(t *testing.T, want, got []Candidate, msg string) {
	t.Helper()
	if len(want) == 0 {
		require.Empty(t, got, msg)
		return
	}
	require.Equal(t, want, got, msg)
}

// ringNearest runs the ring walk with a budget far above Nearest's; false when it gave up.
func ringNearest(x *Index, lat, lng float64, k int, maxMeters float64, accept func(string) bool) ([]Candidate, bool) {
	q, ok := newQuery(lat, lng, k, maxMeters, accept, nil)
	if !ok {
		return q.best, true
	}
	origin, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lng}, x.searchRes)
	if err != nil {
		return nil, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return q.best, x.walk(&q, origin, min(20000, h3.NumCells(x.searchRes)/16))
}

// checkCandidates checks the brute-force answer itself: sorted, within maxMeters, accepted,
// distances are Haversine's, and no driver left out is closer than the last one kept.
func checkCandidates(t *testing.T, x *Index, lat, lng float64, k int, maxM float64, accept func(string) bool, got []Candidate, msg string) {
	t.Helper()
	require.LessOrEqual(t, len(got), k, msg)
	in := map[string]bool{}
	for i, c := range got {
		require.Equal(t, Haversine(lat, lng, c.Fix.Lat, c.Fix.Lng), c.Meters, msg)
		if maxM > 0 {
			require.LessOrEqual(t, c.Meters, maxM, msg)
		}
		if i > 0 {
			require.True(t, closer(got[i-1].Meters, got[i-1].Driver, &c), msg)
		}
		in[c.Driver] = true
	}
	eligible := 0
	for _, e := range x.all {
		d := e.d
		m := Haversine(lat, lng, d.fix.Lat, d.fix.Lng)
		if (maxM > 0 && m > maxM) || (accept != nil && !accept(d.id)) {
			continue
		}
		eligible++
		if !in[d.id] && len(got) > 0 {
			last := got[len(got)-1]
			require.False(t, closer(m, d.id, &last), "%s: %s at %v left out", msg, d.id, m)
		}
	}
	require.Equal(t, min(k, eligible), len(got), msg)
}

func TestNearestEdgeCases(t *testing.T) {
	x := newTestIndex(t, 9)
	assert.Empty(t, x.Nearest(38.72, -9.14, 5, 0, nil, nil), "empty index")
	x.Update("a", fixAt(38.72, -9.14, 0), nowAt(0))
	x.Update("b", fixAt(38.73, -9.14, 0), nowAt(0))
	dst := make([]Candidate, 3, 8)
	got := x.Nearest(38.72, -9.14, 5, 0, nil, dst)
	require.Len(t, got, 2)
	assert.Same(t, &dst[0], &got[0], "dst is reused")
	assert.Equal(t, "a", got[0].Driver)
	assert.Zero(t, got[0].Meters)
	assert.Empty(t, x.Nearest(38.72, -9.14, 0, 0, nil, nil), "k = 0")
	assert.Empty(t, x.Nearest(math.NaN(), -9.14, 1, 0, nil, nil))
	assert.Empty(t, x.Nearest(38.72, math.Inf(1), 1, 0, nil, nil))
	assert.Empty(t, x.Nearest(91, -9.14, 1, 0, nil, nil))
	assert.Empty(t, x.Nearest(38.72, -9.14, 1, math.NaN(), nil, nil))
	assert.Len(t, x.Nearest(38.72, -9.14, 2, 1000, nil, nil), 1, "b is 1.1 km away")
	assert.Len(t, x.Nearest(38.72, -9.14+360, 2, 0, nil, nil), 2, "longitudes wrap")
	assert.Empty(t, x.Nearest(38.72, -9.14, 2, 0, func(string) bool { return false }, nil))
	got = x.Nearest(-38.72, 170.86, 1, 0, nil, nil)
	require.Len(t, got, 1, "the antipode finds the farthest driver by full scan")
	assert.Equal(t, "b", got[0].Driver)
}

// TestConcurrentUse runs one writer and several readers; with -race it checks the locking.
func TestConcurrentUse(t *testing.T) {
	x := newTestIndex(t, 9)
	point := inDisk(38.7223, -9.1393, 10e3)
	r := newRand(t)
	for i := range 500 {
		lat, lng := point(r)
		x.Update(strconv.Itoa(i), fixAt(lat, lng, 0), nowAt(0))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		r := rand.New(rand.NewPCG(1, 2))
		for sec := int64(1); sec <= 5000; sec++ {
			id := strconv.Itoa(r.IntN(600))
			if r.IntN(50) == 0 {
				x.Remove(id)
				continue
			}
			lat, lng := point(r)
			x.Update(id, fixAt(lat, lng, sec), nowAt(sec))
		}
	})
	for g := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			var dst []Candidate
			for range 300 {
				lat, lng := point(r)
				dst = x.Nearest(lat, lng, 8, 0, nil, dst)
				_, _ = x.Position(strconv.Itoa(r.IntN(600)))
				_ = x.Stats()
				_ = x.Len()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, x.Len(), x.Stats().Drivers)
	checkIndex(t, x)
}
