package roads

import (
	"bytes"
	"compress/gzip"
	"container/heap"
	"math"
	"testing"
)

// dijkstra is the reference shortest-path length: plain Dijkstra over every
// node, sharing nothing with Route but the graph.
func dijkstra(g *Graph, from, to int) float64 {
	dist := make([]float64, g.Len())
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	dist[from] = 0
	q := &pq{{0, from}}
	for q.Len() > 0 {
		it := heap.Pop(q).(pqItem)
		if it.d > dist[it.n] {
			continue
		}
		if it.n == to {
			return it.d
		}
		g.Neighbors(it.n, func(v int, w float64) {
			if d := it.d + w; d < dist[v] {
				dist[v] = d
				heap.Push(q, pqItem{d, v})
			}
		})
	}
	return math.Inf(1)
}

type pqItem struct {
	d float64
	n int
}

type pq []pqItem

func (q pq) Len() int           { return len(q) }
func (q pq) Less(i, j int) bool { return q[i].d < q[j].d }
func (q pq) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pq) Push(x any)        { *q = append(*q, x.(pqItem)) }
func (q *pq) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// nearestLinear is the reference Nearest: a scan of every node.
func nearestLinear(g *Graph, p Point) int {
	best, bestD := -1, math.Inf(1)
	for i := range g.Len() {
		if d := Distance(p, g.Point(i)); d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// connected reports whether every node is reachable from node 0.
func connected(g *Graph) bool {
	seen := make([]bool, g.Len())
	seen[0] = true
	stack, count := []int{0}, 1
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g.Neighbors(u, func(v int, _ float64) {
			if !seen[v] {
				seen[v] = true
				count++
				stack = append(stack, v)
			}
		})
	}
	return count == g.Len()
}

func andorraGraph(tb testing.TB) *Graph {
	tb.Helper()
	g, err := Andorra()
	if err != nil {
		tb.Fatalf("Andorra: %v", err)
	}
	return g
}

// checkPath verifies that path is a walk along edges of g from node from to
// node to whose length is meters.
func checkPath(t *testing.T, g *Graph, from, to int, path []Point, meters float64) {
	t.Helper()
	if len(path) == 0 || path[0] != g.Point(from) || path[len(path)-1] != g.Point(to) {
		t.Fatalf("route %d -> %d: path does not run from %v to %v: %v", from, to, g.Point(from), g.Point(to), path)
	}
	sum := 0.0
	for i := 1; i < len(path); i++ {
		sum += Distance(path[i-1], path[i])
	}
	if math.Abs(sum-meters) > 1e-6*max(1, meters) {
		t.Fatalf("route %d -> %d: path length %.6f, reported %.6f", from, to, sum, meters)
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
