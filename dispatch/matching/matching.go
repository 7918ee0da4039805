// Package matching solves the rectangular minimum-cost assignment problem that the dispatch
// engine's batch strategy runs every cycle: rows are orders, columns are candidate drivers,
// and cost[i][j] is what it costs to give order i to driver j (the pickup distance in metres).
//
// The objective is lexicographic. First, match as many pairs as possible, leaving out
// Forbidden ones. Second, among all assignments with that many pairs, minimise the total
// cost. An order is never left waiting to save distance when some driver could take it.
//
// [Solver.Solve] finds the optimum with the Hungarian algorithm. [Solver.Greedy] keeps
// taking the cheapest remaining pair. It is simpler but not optimal, and it is the baseline
// that tests and benchmarks compare against. The package does no I/O and has no state
// outside a Solver.
package matching

import (
	"errors"
	"fmt"
	"math"
)

// Forbidden is the cost of a pair that may not be matched: the driver is too far away,
// locked out or has no capacity. Any cost >= Forbidden counts as Forbidden, and
// math.Inf(1) is one such cost. (Go has no infinite constants, so the sentinel is
// math.MaxFloat64 instead.)
const Forbidden = math.MaxFloat64

// MaxCost is the largest finite cost accepted. It is far above any distance, duration or
// price, and it stays so far below math.MaxFloat64 that no sum the algorithm forms can
// overflow. A cost above MaxCost that is not Forbidden is an error: it usually means a
// unit was wrong.
const MaxCost = 1e100

// Unmatched is the value of Result.RowToCol[i] when row i got no column.
const Unmatched = -1

var (
	// ErrRagged means the cost matrix has rows of different lengths.
	ErrRagged = errors.New("matching: ragged cost matrix")
	// ErrCost means a cost is NaN, negative, or above MaxCost without being Forbidden.
	ErrCost = errors.New("matching: invalid cost")
)

// Result is an assignment of rows to columns.
type Result struct {
	// RowToCol has one entry per row. RowToCol[i] is the column that row i got,
	// or Unmatched. No two rows share a column, and no pair is Forbidden.
	RowToCol []int
	// Total is the sum of the costs of the matched pairs, added in row order.
	Total float64
	// Matched counts the rows that got a column.
	Matched int
}

// shape validates cost and returns its dimensions.
// All rows must have the same length. Every entry must be Forbidden (including +Inf) or a
// number in [0, MaxCost].
func shape(cost [][]float64) (n, m int, err error) {
	n = len(cost)
	if n == 0 {
		return 0, 0, nil
	}
	m = len(cost[0])
	for i, row := range cost {
		if len(row) != m {
			return 0, 0, fmt.Errorf("%w: row %d has %d columns, row 0 has %d", ErrRagged, i, len(row), m)
		}
		for j, c := range row {
			switch {
			case c >= Forbidden: // Forbidden or +Inf
			case c >= 0 && c <= MaxCost: // false for NaN
			default:
				return 0, 0, fmt.Errorf("%w: cost[%d][%d] is %v; want 0 <= cost <= %g, or Forbidden", ErrCost, i, j, c, MaxCost)
			}
		}
	}
	return n, m, nil
}

// finish fills res.Matched and res.Total from res.RowToCol, adding the costs in row order.
func finish(cost [][]float64, res *Result) {
	res.Matched, res.Total = 0, 0
	for i, j := range res.RowToCol {
		if j != Unmatched {
			res.Matched++
			res.Total += cost[i][j]
		}
	}
}

// grow returns buf resliced to n elements, reallocating only when its capacity is short.
// The contents are not cleared. The result is never nil, so an empty result looks the same
// from a fresh Solver and from a reused one.
func grow[T any](buf []T, n int) []T {
	if buf == nil || cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}
