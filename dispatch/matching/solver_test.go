package matching

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const F = Forbidden

var inf = math.Inf(1)

func TestSolveKnown(t *testing.T) {
	cases := []struct {
		name    string
		cost    [][]float64
		want    []int // nil: several optimal assignments, check only Matched and Total
		total   float64
		matched int
	}{
		{"classic 3x3", [][]float64{{4, 1, 3}, {2, 0, 5}, {3, 2, 2}}, []int{1, 0, 2}, 5, 3},
		{"single pair", [][]float64{{42}}, []int{0}, 42, 1},
		{"greedy pays more", [][]float64{{1, 2}, {2, 100}}, []int{1, 0}, 4, 2},
		// Giving row 0 its cheap driver would leave row 1 with none.
		{"orders before distance", [][]float64{{1, 5}, {2, F}}, []int{1, 0}, 7, 2},
		// Row 1 can only take column 0, which pushes row 0 to column 1 and row 2 to column 2.
		{"forced chain", [][]float64{{1, 2, F}, {1, inf, F}, {F, 1, 5}}, []int{1, 0, 2}, 8, 3},
		{"more drivers than orders", [][]float64{{7, 3, 9}, {2, 8, 4}}, []int{1, 0}, 5, 2},
		{"more orders than drivers", [][]float64{{5, 1}, {2, 9}, {1, 1}}, []int{1, Unmatched, 0}, 2, 2},
		{"more orders, one feasible driver", [][]float64{{F}, {3}, {2}, {inf}}, []int{Unmatched, Unmatched, 0, Unmatched}, 2, 1},
		{"order nobody can take", [][]float64{{F, F}, {3, 4}}, []int{Unmatched, 0}, 3, 1},
		{"driver nobody can use", [][]float64{{F, 6, 1}, {F, 2, 4}}, []int{2, 1}, 3, 2},
		{"all forbidden", [][]float64{{F, inf}, {inf, F}}, []int{Unmatched, Unmatched}, 0, 0},
		{"all zero", [][]float64{{0, 0}, {0, 0}, {0, 0}}, nil, 0, 2},
		{"ties", [][]float64{{1, 1, 1}, {1, 1, 1}}, nil, 2, 2},
		{"negative zero", [][]float64{{math.Copysign(0, -1), 1}}, []int{0}, 0, 1},
		{"limits", [][]float64{{MaxCost, F}, {MaxCost, MaxCost}}, []int{0, 1}, 2 * MaxCost, 2},
		{"nil", nil, []int{}, 0, 0},
		{"no rows", [][]float64{}, []int{}, 0, 0},
		{"no columns", [][]float64{{}, {}}, []int{Unmatched, Unmatched}, 0, 0},
	}
	var reused Solver
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, solve := range []func([][]float64) (Result, error){Solve, reused.Solve} {
				res, err := solve(tc.cost)
				require.NoError(t, err)
				requireValid(t, tc.cost, res)
				if tc.want != nil {
					assert.Equal(t, tc.want, res.RowToCol)
				}
				assert.Equal(t, tc.total, res.Total)
				assert.Equal(t, tc.matched, res.Matched)
			}
		})
	}
}

func TestSolveErrors(t *testing.T) {
	cases := []struct {
		name string
		cost [][]float64
		want error
		msg  string
	}{
		{"ragged", [][]float64{{1, 2}, {3}}, ErrRagged, "row 1 has 1 columns, row 0 has 2"},
		{"ragged after empty", [][]float64{{}, {1}}, ErrRagged, "row 1 has 1 columns, row 0 has 0"},
		{"NaN", [][]float64{{1, 2}, {math.NaN(), 3}}, ErrCost, "cost[1][0] is NaN"},
		{"negative", [][]float64{{1, -2}}, ErrCost, "cost[0][1] is -2"},
		{"minus infinity", [][]float64{{math.Inf(-1)}}, ErrCost, "cost[0][0] is -Inf"},
		{"above MaxCost", [][]float64{{1}, {MaxCost * 10}}, ErrCost, "cost[1][0] is 1e+101; want 0 <= cost <= 1e+100, or Forbidden"},
	}
	var s Solver
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, run := range []func([][]float64) (Result, error){Solve, s.Solve, Greedy, s.Greedy} {
				res, err := run(tc.cost)
				require.ErrorIs(t, err, tc.want)
				assert.Contains(t, err.Error(), tc.msg)
				assert.Equal(t, Result{}, res)
			}
		})
	}
}

// randomCost builds an n×m matrix in one of several styles: few distinct values (many ties
// and zeros), integers, fractions, or values spread over twelve orders of magnitude, with
// some Forbidden entries and sometimes a Forbidden row or column. exact reports whether
// every sum of entries is exact in float64. Then the totals must match exactly.
func randomCost(r *rand.Rand, n, m int) (cost [][]float64, exact bool) {
	style := r.IntN(4)
	pForbidden := []float64{0, 0.2, 0.5, 0.9}[r.IntN(4)]
	cost = make([][]float64, n)
	for i := range cost {
		cost[i] = make([]float64, m)
		for j := range cost[i] {
			switch style {
			case 0:
				cost[i][j] = float64(r.IntN(4))
			case 1:
				cost[i][j] = float64(r.IntN(20_000))
			case 2:
				cost[i][j] = r.Float64() * 1e4
			case 3:
				cost[i][j] = math.Pow(10, r.Float64()*12-3)
			}
			if r.Float64() < pForbidden {
				cost[i][j] = []float64{F, inf}[r.IntN(2)]
			}
		}
	}
	if n > 0 && r.IntN(5) == 0 {
		row := cost[r.IntN(n)]
		for j := range row {
			row[j] = F
		}
	}
	if m > 0 && r.IntN(5) == 0 {
		c := r.IntN(m)
		for i := range cost {
			cost[i][c] = F
		}
	}
	return cost, style < 2
}

func transpose(cost [][]float64) [][]float64 {
	if len(cost) == 0 {
		return nil
	}
	out := make([][]float64, len(cost[0]))
	for j := range out {
		out[j] = make([]float64, len(cost))
		for i := range cost {
			out[j][i] = cost[i][j]
		}
	}
	return out
}

// checkOptimal compares res with the oracle's (matched, total).
func checkOptimal(t *testing.T, cost [][]float64, exact bool, res Result, matched int, total float64) {
	t.Helper()
	requireValid(t, cost, res)
	require.Equal(t, matched, res.Matched, "matched count for %v", cost)
	if exact {
		require.Equal(t, total, res.Total, "total for %v", cost)
	} else {
		require.True(t, closeTotal(total, res.Total), "total %v, want %v for %v", res.Total, total, cost)
	}
}

func TestSolveMatchesBruteForce(t *testing.T) {
	r := newRand(t)
	iterations := 20_000
	if testing.Short() {
		iterations = 2_000
	}
	var reused Solver
	for range iterations {
		cost, exact := randomCost(r, r.IntN(7), r.IntN(7))
		matched, total := bruteForce(cost)

		res, err := reused.Solve(cost)
		require.NoError(t, err)
		checkOptimal(t, cost, exact, res, matched, total)

		fresh, err := Solve(cost)
		require.NoError(t, err)
		require.Equal(t, res, fresh, "a reused Solver must give what a fresh one gives")
	}
}

// subsetDP is a second oracle for matrices with few columns and any number of rows. It
// processes the rows in order and keeps the best (matched, total) for each set of used
// columns. It takes O(n·m·2^m) time.
func subsetDP(cost [][]float64) (matched int, total float64) {
	m := 0
	if len(cost) > 0 {
		m = len(cost[0])
	}
	type best struct {
		k     int
		total float64
	}
	better := func(a, b best) bool { return a.k > b.k || a.k == b.k && a.total < b.total }
	cur := make([]best, 1<<m)
	for i := range cur {
		cur[i].k = -1
	}
	cur[0] = best{}
	for _, row := range cost {
		next := slices.Clone(cur) // row left unmatched
		for mask, b := range cur {
			if b.k < 0 {
				continue
			}
			for j, c := range row {
				if mask&(1<<j) == 0 && c < Forbidden {
					cand := best{b.k + 1, b.total + c}
					if better(cand, next[mask|1<<j]) {
						next[mask|1<<j] = cand
					}
				}
			}
		}
		cur = next
	}
	top := cur[0]
	for _, b := range cur {
		if better(b, top) {
			top = b
		}
	}
	return top.k, top.total
}

func TestSolveMatchesSubsetDP(t *testing.T) {
	r := newRand(t)
	iterations := 2_000
	if testing.Short() {
		iterations = 200
	}
	var reused Solver
	for range iterations {
		cost, exact := randomCost(r, r.IntN(25), r.IntN(11))
		matched, total := subsetDP(cost)
		res, err := reused.Solve(cost)
		require.NoError(t, err)
		checkOptimal(t, cost, exact, res, matched, total)
	}
}

// TestSolveTransposeAgrees checks larger matrices, beyond the oracles: solving the transpose
// runs the algorithm over the other dimension and must find the same optimum.
func TestSolveTransposeAgrees(t *testing.T) {
	r := newRand(t)
	var s Solver
	for range 200 {
		cost, exact := randomCost(r, 1+r.IntN(60), 1+r.IntN(60))
		res, err := s.Solve(cost)
		require.NoError(t, err)
		requireValid(t, cost, res)
		matched, total := res.Matched, res.Total

		tc := transpose(cost)
		tres, err := s.Solve(tc)
		require.NoError(t, err)
		requireValid(t, tc, tres)
		require.Equal(t, matched, tres.Matched)
		if exact {
			require.Equal(t, total, tres.Total)
		} else {
			require.True(t, closeTotal(total, tres.Total), "total %v, transposed %v", total, tres.Total)
		}
	}
}

func TestSolveHugeCosts(t *testing.T) {
	r := newRand(t)
	for range 2_000 {
		n, m := r.IntN(7), r.IntN(7)
		cost := make([][]float64, n)
		for i := range cost {
			cost[i] = make([]float64, m)
			for j := range cost[i] {
				switch r.IntN(3) {
				case 0:
					cost[i][j] = MaxCost * r.Float64()
				case 1:
					cost[i][j] = MaxCost
				case 2:
					cost[i][j] = F
				}
			}
		}
		matched, total := bruteForce(cost)
		res, err := Solve(cost)
		require.NoError(t, err)
		require.False(t, math.IsInf(res.Total, 0) || math.IsNaN(res.Total))
		checkOptimal(t, cost, false, res, matched, total)
	}
}

func TestSolveLeavesInputAlone(t *testing.T) {
	r := newRand(t)
	cost, _ := randomCost(r, 9, 5)
	before := make([][]float64, len(cost))
	for i := range cost {
		before[i] = slices.Clone(cost[i])
	}
	_, err := Solve(cost)
	require.NoError(t, err)
	_, err = Greedy(cost)
	require.NoError(t, err)
	assert.Equal(t, before, cost)
}

func TestSolverDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are asserted without -race")
	}
	r := rand.New(rand.NewPCG(1, 2))
	wide := cityCost(r, 50, 200, 3000)
	tall := cityCost(r, 120, 40, 3000)
	small := cityCost(r, 7, 9, 3000)
	var s Solver
	for _, cost := range [][][]float64{wide, tall} { // size the buffers
		_, err := s.Solve(cost)
		require.NoError(t, err)
		_, err = s.Greedy(cost)
		require.NoError(t, err)
	}
	for name, cost := range map[string][][]float64{"wide": wide, "tall": tall, "small": small} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := s.Solve(cost); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "Solve %s", name)
		allocs = testing.AllocsPerRun(20, func() {
			if _, err := s.Greedy(cost); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "Greedy %s", name)
	}
}
