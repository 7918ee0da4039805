package matching

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGreedyKnown(t *testing.T) {
	cases := []struct {
		name    string
		cost    [][]float64
		want    []int
		total   float64
		matched int
	}{
		{"cheapest first", [][]float64{{1, 2}, {2, 100}}, []int{0, 1}, 101, 2},
		{"strands an order", [][]float64{{1, 5}, {2, F}}, []int{0, Unmatched}, 1, 1},
		{"ties go to the lower row, then column", [][]float64{{3, 3}, {3, 3}}, []int{0, 1}, 6, 2},
		{"more orders than drivers", [][]float64{{5, 1}, {2, 9}, {1, 1}}, []int{1, Unmatched, 0}, 2, 2},
		{"all forbidden", [][]float64{{F, inf}}, []int{Unmatched}, 0, 0},
		{"no columns", [][]float64{{}}, []int{Unmatched}, 0, 0},
		{"nil", nil, []int{}, 0, 0},
	}
	var reused Solver
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, greedy := range []func([][]float64) (Result, error){Greedy, reused.Greedy} {
				res, err := greedy(tc.cost)
				require.NoError(t, err)
				requireValid(t, tc.cost, res)
				assert.Equal(t, tc.want, res.RowToCol)
				assert.Equal(t, tc.total, res.Total)
				assert.Equal(t, tc.matched, res.Matched)
			}
		})
	}
}

// cityCost places n orders and m drivers uniformly in a 12 km square and returns the
// straight-line pickup distances in metres. Pairs farther apart than radius are Forbidden.
// A radius of 0 allows every pair.
func cityCost(r *rand.Rand, n, m int, radius float64) [][]float64 {
	const side = 12_000.0
	type point struct{ x, y float64 }
	drivers := make([]point, m)
	for j := range drivers {
		drivers[j] = point{r.Float64() * side, r.Float64() * side}
	}
	cost := make([][]float64, n)
	for i := range cost {
		order := point{r.Float64() * side, r.Float64() * side}
		cost[i] = make([]float64, m)
		for j, d := range drivers {
			dist := math.Hypot(order.x-d.x, order.y-d.y)
			if radius > 0 && dist > radius {
				dist = Forbidden
			}
			cost[i][j] = dist
		}
	}
	return cost
}

func TestSolveNotWorseThanGreedy(t *testing.T) {
	r := newRand(t)
	var s, g Solver
	fewer, cheaper := 0, 0
	for range 400 {
		var cost [][]float64
		if r.IntN(2) == 0 {
			cost, _ = randomCost(r, r.IntN(40), r.IntN(40))
		} else {
			cost = cityCost(r, 1+r.IntN(40), 1+r.IntN(40), []float64{0, 2000, 4000}[r.IntN(3)])
		}
		res, err := s.Solve(cost)
		require.NoError(t, err)
		requireValid(t, cost, res)
		gres, err := g.Greedy(cost)
		require.NoError(t, err)
		requireValid(t, cost, gres)

		require.GreaterOrEqual(t, res.Matched, gres.Matched, "Solve matched fewer than Greedy")
		if res.Matched > gres.Matched {
			fewer++
			continue
		}
		require.LessOrEqual(t, res.Total, gres.Total*(1+1e-9), "Solve cost more than Greedy with as many pairs")
		if res.Total < gres.Total*(1-1e-9) {
			cheaper++
		}
	}
	t.Logf("Greedy matched fewer rows in %d instances and cost more in %d", fewer, cheaper)
	assert.Positive(t, fewer, "the instances should include some where Greedy strands orders")
	assert.Positive(t, cheaper, "the instances should include some where Greedy pays more")
}
