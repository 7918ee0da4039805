package matching

import "math"

// Solver solves assignment problems and keeps its working memory between calls, so a
// dispatcher that matches every few seconds does not allocate once the Solver has seen its
// largest matrix. The zero Solver is ready to use. A Solver must not be used by two
// goroutines at once.
//
// The RowToCol slice of a Result returned by a Solver method belongs to the Solver: the next
// call overwrites it. Copy it to keep it. The package-level functions use a fresh Solver, so
// their results belong to the caller.
type Solver struct {
	// The working matrix: nr×nc, nr <= nc, row-major. It is the input or its transpose.
	cost []float64 // the finite cost, or 0 when the pair is Forbidden
	ban  []uint8   // 1 when the pair is Forbidden, else 0

	// Hungarian state.
	u, v      []lex // row and column potentials
	dist      []lex // shortest reduced distance to each column in the current search
	path      []int // path[j]: the row before column j on the shortest path
	col4row   []int // the column holding each row, or -1
	row4col   []int // the row holding each column, or -1
	remaining []int // columns not yet reached in the current search
	rows      []int // rows reached in the current search
	cols      []int // columns reached in the current search

	rowToCol []int

	// Greedy state.
	pairs []pair
	taken []bool
}

// Solve returns an optimal assignment for cost, using a fresh Solver.
// See [Solver.Solve].
func Solve(cost [][]float64) (Result, error) {
	var s Solver
	return s.Solve(cost)
}

// Solve returns an assignment that matches as many pairs as possible without using a
// Forbidden one and, among those, has the least total cost. cost is an n×m matrix. n and
// m may differ, and either may be 0. cost is not modified. Ties are broken
// deterministically: the same input gives the same assignment.
//
// The error wraps ErrRagged if the rows differ in length. It wraps ErrCost if an entry is NaN,
// negative, or above MaxCost without being Forbidden.
//
// Solve runs the Hungarian algorithm in its shortest-augmenting-path form with potentials,
// the form of Jonker and Volgenant. It takes O(k²·l) time and O(k·l) memory, where
// k = min(n, m) and l = max(n, m). When n > m it solves the transpose.
//
// # Forbidden pairs
//
// The algorithm needs a cost for every pair, so a Forbidden pair gets a penalty that outweighs
// any combination of real costs. A scalar penalty P would have to exceed the sum S of all
// finite costs, and that has to hold in float64 too. S+1 rounds back to S once S >= 2^53, and
// then a Forbidden pair can tie with a real one. Even a correct P costs precision. The potentials
// reach about n·P, so real costs are added at that magnitude and rounded to multiples of
// ulp(n·P). For 200×200 distances of up to 20 km that step is about 3e-5. Two assignments
// closer than one step can be confused.
//
// So the penalty stays out of the floating-point part. Each cost is a pair (k, c), compared
// lexicographically: k is 1 for a Forbidden pair and 0 otherwise, and c is the finite cost,
// or 0 for a Forbidden pair. This is the penalty "P → ∞" computed exactly. The algorithm only
// adds, subtracts and compares costs, so it runs unchanged on pairs.
//   - The k parts cannot overflow. They are integers, and each row adds at most one to a
//     potential, so they stay within the number of rows.
//   - The c parts lose nothing to the penalty. They are sums and differences of finite costs
//     only, rounded as in the algorithm without Forbidden pairs.
//
// With at least as many columns as rows, every row gets a column. A row whose column is
// Forbidden is then reported as Unmatched.
//
// The order (number of Forbidden pairs, finite total) gives the stated objective. Drop the
// Forbidden pairs from a complete assignment with f of them, and what is left is a matching
// of n−f pairs with the same finite total. Any matching of j pairs extends to a complete
// assignment with at most n−j Forbidden pairs.
func (s *Solver) Solve(cost [][]float64) (Result, error) {
	n, m, err := shape(cost)
	if err != nil {
		return Result{}, err
	}
	res := Result{RowToCol: grow(s.rowToCol, n)}
	s.rowToCol = res.RowToCol
	for i := range res.RowToCol {
		res.RowToCol[i] = Unmatched
	}
	if n == 0 || m == 0 {
		return res, nil
	}

	transposed := n > m
	nr, nc := n, m
	if transposed {
		nr, nc = m, n
	}
	s.load(cost, transposed)
	s.assign(nr, nc)

	// Every working row holds a working column. Forbidden pairs stay unmatched.
	for r, j := range s.col4row[:nr] {
		if s.ban[r*nc+j] != 0 {
			continue
		}
		if transposed {
			res.RowToCol[j] = r
		} else {
			res.RowToCol[r] = j
		}
	}
	finish(cost, &res)
	return res, nil
}

// load fills the working matrix from cost, transposed when asked to.
func (s *Solver) load(cost [][]float64, transposed bool) {
	n, m := len(cost), len(cost[0])
	s.cost = grow(s.cost, n*m)
	s.ban = grow(s.ban, n*m)
	for i, row := range cost {
		for j, c := range row {
			at := i*m + j
			if transposed {
				at = j*n + i
			}
			if c >= Forbidden {
				s.cost[at], s.ban[at] = 0, 1
			} else {
				s.cost[at], s.ban[at] = c, 0
			}
		}
	}
}

// lex is a cost in the lexicographic order described at Solve: k counts Forbidden pairs and
// comes first, c is the finite part.
type lex struct {
	k int
	c float64
}

func (a lex) less(b lex) bool { return a.k < b.k || a.k == b.k && a.c < b.c }
func (a lex) add(b lex) lex   { return lex{a.k + b.k, a.c + b.c} }
func (a lex) sub(b lex) lex   { return lex{a.k - b.k, a.c - b.c} }

// infinityK makes a lex above every reduced cost the algorithm forms.
const infinityK = math.MaxInt

// assign runs the Hungarian algorithm on the nr×nc working matrix, nr <= nc, and leaves the
// optimal assignment in s.col4row and s.row4col. It adds one row at a time. For each row it
// runs Dijkstra over reduced costs, c[i][j] − u[i] − v[j], which the potentials keep
// non-negative. The search stops at the first free column it settles. The potentials are
// then shifted so that every matched pair has a reduced cost of zero, and the matching is
// flipped along the path. The shifts are applied once, when the search ends, to the rows
// and columns it reached, rather than at every step. Among equally near columns a free one
// is settled first, which ends the search early. Each row takes O(nr·nc) time. This is the
// formulation of Crouse, "On implementing 2D rectangular assignment algorithms" (IEEE
// TAES, 2016), which SciPy's linear_sum_assignment also uses.
func (s *Solver) assign(nr, nc int) {
	s.u = grow(s.u, nr)
	s.v = grow(s.v, nc)
	s.dist = grow(s.dist, nc)
	s.path = grow(s.path, nc)
	s.col4row = grow(s.col4row, nr)
	s.row4col = grow(s.row4col, nc)
	s.remaining = grow(s.remaining, nc)
	u, v, dist, path, col4row, row4col, remaining := s.u, s.v, s.dist, s.path, s.col4row, s.row4col, s.remaining
	clear(u)
	clear(v)
	for j := range row4col {
		row4col[j] = -1
	}
	for i := range col4row {
		col4row[i] = -1
	}

	for cur := range nr {
		for j := range remaining {
			remaining[j] = j
			dist[j] = lex{k: infinityK}
		}
		rows, cols := s.rows[:0], s.cols[:0]
		left := nc     // remaining[:left] are the columns not yet settled
		reach := lex{} // distance to the column settled last
		i, sink := cur, -1
		for sink < 0 {
			rows = append(rows, i)
			ui := u[i]
			cost := s.cost[i*nc : (i+1)*nc]
			ban := s.ban[i*nc : (i+1)*nc]
			next, lowest := -1, lex{k: infinityK}
			for at, j := range remaining[:left] {
				d := dist[j]
				if r := (lex{reach.k + int(ban[j]) - ui.k - v[j].k, reach.c + cost[j] - ui.c - v[j].c}); r.less(d) {
					dist[j], path[j], d = r, i, r
				}
				if d.less(lowest) || d == lowest && row4col[j] < 0 {
					next, lowest = at, d
				}
			}
			// i < nr <= nc, so fewer than nc columns are settled and some column is left.
			// Every entry is finite in the lexicographic order, so next >= 0.
			j := remaining[next]
			reach = lowest
			cols = append(cols, j)
			left--
			remaining[next] = remaining[left]
			if row4col[j] < 0 {
				sink = j
			} else {
				i = row4col[j]
			}
		}
		s.rows, s.cols = rows, cols

		u[cur] = u[cur].add(reach)
		for _, i := range rows[1:] {
			u[i] = u[i].add(reach.sub(dist[col4row[i]]))
		}
		for _, j := range cols {
			v[j] = v[j].sub(reach.sub(dist[j]))
		}
		for j := sink; ; {
			i := path[j]
			row4col[j] = i
			col4row[i], j = j, col4row[i]
			if i == cur {
				break
			}
		}
	}
}
