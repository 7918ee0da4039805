package matching

import "slices"

// pair is one feasible entry of a cost matrix.
type pair struct {
	cost float64
	i, j int
}

// Greedy returns the assignment that Solver.Greedy finds, using a fresh Solver.
func Greedy(cost [][]float64) (Result, error) {
	var s Solver
	return s.Greedy(cost)
}

// Greedy repeatedly takes the cheapest remaining pair that is not Forbidden and whose row
// and column are both still free. Ties go to the lower row, then to the lower column. It
// takes O(n·m·log(n·m)) time. The result is a maximal matching, but it is not optimal on
// either count. It can match fewer rows than Solve: it may give a row's only driver to a
// row that had other choices. It can also cost more. It is the baseline that Solve is
// measured against. The errors and the ownership of RowToCol are as for Solve.
func (s *Solver) Greedy(cost [][]float64) (Result, error) {
	n, m, err := shape(cost)
	if err != nil {
		return Result{}, err
	}
	res := Result{RowToCol: grow(s.rowToCol, n)}
	s.rowToCol = res.RowToCol
	for i := range res.RowToCol {
		res.RowToCol[i] = Unmatched
	}

	pairs := s.pairs[:0]
	for i, row := range cost {
		for j, c := range row {
			if c < Forbidden {
				pairs = append(pairs, pair{c, i, j})
			}
		}
	}
	s.pairs = pairs
	slices.SortFunc(pairs, func(a, b pair) int {
		switch { // costs are never NaN here
		case a.cost < b.cost:
			return -1
		case a.cost > b.cost:
			return 1
		case a.i != b.i:
			return a.i - b.i
		}
		return a.j - b.j
	})

	s.taken = grow(s.taken, m)
	clear(s.taken)
	left := min(n, m)
	for _, p := range pairs {
		if left == 0 {
			break
		}
		if res.RowToCol[p.i] == Unmatched && !s.taken[p.j] {
			res.RowToCol[p.i] = p.j
			s.taken[p.j] = true
			left--
		}
	}
	finish(cost, &res)
	return res, nil
}
