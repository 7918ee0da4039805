package roads

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoRoute is returned by Route when to cannot be reached from from. Graphs
// built by this package are connected, so it shows a bug or a hand-built graph.
var ErrNoRoute = errors.New("roads: no route")

// ErrNode is returned for a node number outside 0..Len()-1.
var ErrNode = errors.New("roads: node out of range")

// Route is the shortest path from node from to node to, found with A* and
// the haversine distance to the goal as heuristic (admissible and consistent,
// since every edge is as long as the great-circle distance between its ends).
// The path starts at from's position and ends at to's; meters is its length.
func (g *Graph) Route(from, to int) (path []Point, meters float64, err error) {
	n := len(g.pts)
	if from < 0 || from >= n || to < 0 || to >= n {
		return nil, 0, fmt.Errorf("route %d -> %d of %d nodes: %w", from, to, n, ErrNode)
	}
	if from == to {
		return []Point{g.pts[from]}, 0, nil
	}
	s := g.searches.Get().(*search)
	defer g.searches.Put(s)
	s.next()

	goal := int32(to)
	h := func(v int32) float64 { return g.dist(v, goal) }
	src := int32(from)
	s.set(src, 0, -1)
	s.push(h(src), src)
	for len(s.heap) > 0 {
		it := s.pop()
		u := it.node
		if s.done[u] == s.stamp {
			continue // a stale entry: u was settled through a shorter path
		}
		s.done[u] = s.stamp
		if u == goal {
			return s.path(g, goal), s.g[goal], nil
		}
		gu := s.g[u]
		for e := g.off[u]; e < g.off[u+1]; e++ {
			v := g.adj[e]
			if s.done[v] == s.stamp {
				continue
			}
			gv := gu + g.w[e]
			if s.seen[v] != s.stamp || gv < s.g[v] {
				s.set(v, gv, u)
				s.push(gv+h(v), v)
			}
		}
	}
	return nil, 0, fmt.Errorf("route %d -> %d: %w", from, to, ErrNoRoute)
}

// search is the scratch state of one Route call, reused across calls: an
// entry is valid only when its stamp equals the current one, which saves
// clearing the arrays.
type search struct {
	g     []float64
	prev  []int32
	seen  []uint32
	done  []uint32
	stamp uint32
	heap  []heapItem
}

type heapItem struct {
	f    float64
	node int32
}

func newSearch(n int) *search {
	return &search{
		g:    make([]float64, n),
		prev: make([]int32, n),
		seen: make([]uint32, n),
		done: make([]uint32, n),
	}
}

// next starts a new search.
func (s *search) next() {
	s.heap = s.heap[:0]
	s.stamp++
	if s.stamp == 0 { // wrapped: old stamps could match again
		clear(s.seen)
		clear(s.done)
		s.stamp = 1
	}
}

func (s *search) set(v int32, g float64, prev int32) {
	s.g[v], s.prev[v], s.seen[v] = g, prev, s.stamp
}

func (s *search) path(g *Graph, goal int32) []Point {
	var path []Point
	for v := goal; v >= 0; v = s.prev[v] {
		path = append(path, g.pts[v])
	}
	slices.Reverse(path)
	return path
}

// less orders the heap by f, then by node number so that ties break the same
// way on every run.
func less(a, b heapItem) bool {
	return a.f < b.f || (a.f == b.f && a.node < b.node)
}

func (s *search) push(f float64, v int32) {
	if math.IsNaN(f) {
		f = math.Inf(1)
	}
	s.heap = append(s.heap, heapItem{f, v})
	h := s.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *search) pop() heapItem {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}
