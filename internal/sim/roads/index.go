package roads

import "math"

// index buckets the nodes into a uniform grid of cells over the bounding box
// so that Nearest looks at a handful of cells instead of every node.
type index struct {
	minLat, minLng   float64
	cellLat, cellLng float64 // cell size in degrees
	rows, cols       int
	start            []int32 // nodes of cell c are items[start[c]:start[c+1]]
	items            []int32
	cellM            float64 // a lower bound of a cell's side in metres
}

// nodesPerCell is the average bucket size the index aims for.
const nodesPerCell = 4

func newIndex(g *Graph) index {
	n := len(g.pts)
	maxAbsLat := math.Max(math.Abs(g.min.Lat), math.Abs(g.max.Lat))
	cosLat := math.Max(math.Cos(maxAbsLat*deg), 1e-6)
	h := (g.max.Lat - g.min.Lat) * metersPerDegLat
	w := (g.max.Lng - g.min.Lng) * metersPerDegLat * cosLat
	// A square cell side that gives about nodesPerCell nodes per cell, at
	// least a metre, and no more cells than needed along a thin box.
	side := math.Sqrt(math.Max(h*w, 1) * nodesPerCell / float64(n))
	side = math.Max(side, math.Max(h, w)/float64(n))
	side = math.Max(side, 1)
	idx := index{
		minLat:  g.min.Lat,
		minLng:  g.min.Lng,
		cellLat: side / metersPerDegLat,
		cellLng: side / (metersPerDegLat * cosLat),
	}
	idx.rows = int(h/side) + 1
	idx.cols = int(w/side) + 1
	// Longitude cells measured at the widest latitude are no wider than side
	// anywhere in the box; the margin covers the haversine-versus-flat error.
	idx.cellM = side * 0.99

	cells := idx.rows * idx.cols
	idx.start = make([]int32, cells+1)
	cellOf := make([]int32, n)
	for i, p := range g.pts {
		r, c := idx.cell(p)
		cellOf[i] = int32(r*idx.cols + c)
		idx.start[cellOf[i]+1]++
	}
	for c := range cells {
		idx.start[c+1] += idx.start[c]
	}
	fill := make([]int32, cells)
	copy(fill, idx.start[:cells])
	idx.items = make([]int32, n)
	for i, c := range cellOf {
		idx.items[fill[c]] = int32(i)
		fill[c]++
	}
	return idx
}

// cell is the row and column of the cell holding p, clamped to the grid.
func (x *index) cell(p Point) (r, c int) {
	fr := (p.Lat - x.minLat) / x.cellLat
	fc := (p.Lng - x.minLng) / x.cellLng
	r = int(math.Max(0, math.Min(fr, float64(x.rows-1))))
	c = int(math.Max(0, math.Min(fc, float64(x.cols-1))))
	return r, c
}

// Nearest is the node closest to p (haversine distance); p may lie outside
// the graph's bounding box. Ties go to the lower node number.
//
// Candidates are compared by the squared chord between unit vectors, which
// orders points exactly as the great-circle distance does and costs a few
// multiplications instead of trigonometry.
func (g *Graph) Nearest(p Point) int {
	x := &g.idx
	r0, c0 := x.cell(p)
	px, py, pz := unitVector(p)
	best, bestC := -1, math.Inf(1)
	visit := func(r, c int) {
		if r < 0 || r >= x.rows || c < 0 || c >= x.cols {
			return
		}
		cell := r*x.cols + c
		for _, n := range x.items[x.start[cell]:x.start[cell+1]] {
			dx, dy, dz := g.ux[n]-px, g.uy[n]-py, g.uz[n]-pz
			d := dx*dx + dy*dy + dz*dz
			if d < bestC || (d == bestC && int(n) < best) {
				best, bestC = int(n), d
			}
		}
	}
	maxRing := max(x.rows, x.cols)
	bestM := math.Inf(1) // bestC in metres, updated once per ring
	for k := 0; k <= maxRing; k++ {
		if best >= 0 {
			bestM = 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(bestC)/2))
		}
		// Cells k rings out are at least k-1 whole cells away from p.
		if bestM < float64(k-1)*x.cellM {
			break
		}
		if k == 0 {
			visit(r0, c0)
			continue
		}
		for c := c0 - k; c <= c0+k; c++ {
			visit(r0-k, c)
			visit(r0+k, c)
		}
		for r := r0 - k + 1; r <= r0+k-1; r++ {
			visit(r, c0-k)
			visit(r, c0+k)
		}
	}
	return best
}

// unitVector is p on the unit sphere.
func unitVector(p Point) (x, y, z float64) {
	lat, lng := p.Lat*deg, p.Lng*deg
	return math.Cos(lat) * math.Cos(lng), math.Cos(lat) * math.Sin(lng), math.Sin(lat)
}
