package roads

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// ErrNoRoads is returned when a graph would have no edge: no drivable way in an
// OSM file, nothing inside a crop box, an empty encoded graph.
var ErrNoRoads = errors.New("roads: no roads")

// Graph is an undirected road network. Nodes are numbered 0..Len()-1; edges
// carry their haversine length in metres. Every graph built by this package is
// connected (only its largest connected component is kept). A Graph is
// immutable and safe for concurrent use.
type Graph struct {
	pts []Point

	// Per node, for the A* heuristic: latitude and longitude in radians and
	// the cosine of the latitude.
	lat, lng, cos []float64

	// Per node, its position on the unit sphere, for Nearest.
	ux, uy, uz []float64

	// Adjacency in compressed sparse rows: the neighbours of node i are
	// adj[off[i]:off[i+1]], with edge lengths w[off[i]:off[i+1]].
	off []int32
	adj []int32
	w   []float64

	min, max Point
	idx      index

	searches sync.Pool // *search, reused by Route
}

// Len is the number of nodes.
func (g *Graph) Len() int { return len(g.pts) }

// Point is the position of node; it panics when node is out of range, like a
// slice index.
func (g *Graph) Point(node int) Point { return g.pts[node] }

// Center is the centre of the graph's bounding box.
func (g *Graph) Center() Point {
	return Point{Lat: (g.min.Lat + g.max.Lat) / 2, Lng: (g.min.Lng + g.max.Lng) / 2}
}

// Bounds is the graph's bounding box: the south-west and north-east corners.
func (g *Graph) Bounds() (sw, ne Point) { return g.min, g.max }

// Random picks a node uniformly at random.
func (g *Graph) Random(rng *rand.Rand) int { return rng.IntN(len(g.pts)) }

// Edges is the number of undirected edges.
func (g *Graph) Edges() int { return len(g.adj) / 2 }

// Neighbors calls fn for every neighbour of node with the length of the edge
// in metres.
func (g *Graph) Neighbors(node int, fn func(to int, meters float64)) {
	for e := g.off[node]; e < g.off[node+1]; e++ {
		fn(int(g.adj[e]), g.w[e])
	}
}

// Crop keeps the nodes inside the box from sw to ne and the edges between
// them, then the largest connected component of what is left.
func (g *Graph) Crop(sw, ne Point) (*Graph, error) {
	inside := func(p Point) bool {
		return p.Lat >= sw.Lat && p.Lat <= ne.Lat && p.Lng >= sw.Lng && p.Lng <= ne.Lng
	}
	var b builder
	remap := make([]int32, len(g.pts))
	for i, p := range g.pts {
		remap[i] = -1
		if inside(p) {
			remap[i] = b.node(p)
		}
	}
	for a := range g.pts {
		for e := g.off[a]; e < g.off[a+1]; e++ {
			if to := g.adj[e]; int(to) > a && remap[a] >= 0 && remap[to] >= 0 {
				b.edge(remap[a], remap[to])
			}
		}
	}
	return b.build()
}

// builder collects nodes and undirected edges and turns them into a Graph.
type builder struct {
	pts   []Point
	edges []edgeKey
}

// edgeKey is an undirected edge with a < b.
type edgeKey struct{ a, b int32 }

func (b *builder) node(p Point) int32 {
	b.pts = append(b.pts, p)
	return int32(len(b.pts) - 1)
}

// edge adds an undirected edge; self-loops are ignored.
func (b *builder) edge(u, v int32) {
	if u == v {
		return
	}
	if u > v {
		u, v = v, u
	}
	b.edges = append(b.edges, edgeKey{u, v})
}

// build deduplicates the edges, keeps the largest connected component (the
// one with the most nodes; on a tie the one holding the lowest node number),
// renumbers its nodes in their original order and builds the Graph. The
// result depends only on the order of the calls to node and edge.
func (b *builder) build() (*Graph, error) {
	slices.SortFunc(b.edges, func(x, y edgeKey) int {
		if x.a != y.a {
			return int(x.a - y.a)
		}
		return int(x.b - y.b)
	})
	b.edges = slices.Compact(b.edges)
	if len(b.edges) == 0 {
		return nil, ErrNoRoads
	}

	// Components by union-find.
	parent := make([]int32, len(b.pts))
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, e := range b.edges {
		ra, rb := find(e.a), find(e.b)
		if ra != rb {
			if ra < rb {
				parent[rb] = ra
			} else {
				parent[ra] = rb
			}
		}
	}
	// Only nodes with an edge count: an isolated node is no road.
	size := make([]int32, len(b.pts))
	used := make([]bool, len(b.pts))
	for _, e := range b.edges {
		used[e.a], used[e.b] = true, true
	}
	best := int32(-1)
	for i := range b.pts {
		if !used[i] {
			continue
		}
		r := find(int32(i))
		size[r]++
		if best < 0 || size[r] > size[best] || (size[r] == size[best] && r < best) {
			best = r
		}
	}

	remap := make([]int32, len(b.pts))
	pts := make([]Point, 0, size[best])
	for i, p := range b.pts {
		remap[i] = -1
		if used[i] && find(int32(i)) == best {
			remap[i] = int32(len(pts))
			pts = append(pts, p)
		}
	}
	edges := b.edges[:0:0]
	for _, e := range b.edges {
		if remap[e.a] >= 0 {
			edges = append(edges, edgeKey{remap[e.a], remap[e.b]})
		}
	}
	return newGraph(pts, edges), nil
}

// newGraph builds a Graph from nodes and deduplicated undirected edges.
func newGraph(pts []Point, edges []edgeKey) *Graph {
	n := len(pts)
	g := &Graph{
		pts: pts,
		lat: make([]float64, n),
		lng: make([]float64, n),
		cos: make([]float64, n),
		ux:  make([]float64, n),
		uy:  make([]float64, n),
		uz:  make([]float64, n),
		off: make([]int32, n+1),
		adj: make([]int32, 2*len(edges)),
		w:   make([]float64, 2*len(edges)),
		min: Point{Lat: math.Inf(1), Lng: math.Inf(1)},
		max: Point{Lat: math.Inf(-1), Lng: math.Inf(-1)},
	}
	for i, p := range pts {
		g.lat[i], g.lng[i], g.cos[i] = p.Lat*deg, p.Lng*deg, math.Cos(p.Lat*deg)
		g.ux[i], g.uy[i], g.uz[i] = unitVector(p)
		g.min.Lat, g.min.Lng = min(g.min.Lat, p.Lat), min(g.min.Lng, p.Lng)
		g.max.Lat, g.max.Lng = max(g.max.Lat, p.Lat), max(g.max.Lng, p.Lng)
	}
	for _, e := range edges {
		g.off[e.a+1]++
		g.off[e.b+1]++
	}
	for i := range n {
		g.off[i+1] += g.off[i]
	}
	fill := slices.Clone(g.off[:n])
	for _, e := range edges {
		d := g.dist(e.a, e.b)
		g.adj[fill[e.a]], g.w[fill[e.a]] = e.b, d
		fill[e.a]++
		g.adj[fill[e.b]], g.w[fill[e.b]] = e.a, d
		fill[e.b]++
	}
	g.idx = newIndex(g)
	g.searches.New = func() any { return newSearch(n) }
	return g
}

// dist is the haversine distance between two nodes.
func (g *Graph) dist(a, b int32) float64 {
	return haversine(g.lat[a], g.lng[a], g.cos[a], g.lat[b], g.lng[b], g.cos[b])
}
