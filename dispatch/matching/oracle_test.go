package matching

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("matching.seed", 0, "seed for the randomised matching tests (0: pick one)")

// newRand returns a seeded generator. The seed is logged if the test fails. Pass
// -matching.seed=N to replay it.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./dispatch/matching/ -run '^%s$' -matching.seed=%d", t.Name(), seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// bruteForce tries every injective partial mapping of rows to columns that uses no
// Forbidden pair. It returns the largest number of pairs and the least total for that
// number. It adds costs in row order, as Result.Total does.
func bruteForce(cost [][]float64) (matched int, total float64) {
	n := len(cost)
	m := 0
	if n > 0 {
		m = len(cost[0])
	}
	taken := make([]bool, m)
	bestK, bestTotal := -1, math.Inf(1)
	var walk func(i, k int, sum float64)
	walk = func(i, k int, sum float64) {
		if k+(n-i) < bestK {
			return // even matching every remaining row cannot catch up
		}
		if i == n {
			if k > bestK || k == bestK && sum < bestTotal {
				bestK, bestTotal = k, sum
			}
			return
		}
		walk(i+1, k, sum)
		for j, c := range cost[i] {
			if !taken[j] && c < Forbidden {
				taken[j] = true
				walk(i+1, k+1, sum+c)
				taken[j] = false
			}
		}
	}
	walk(0, 0, 0)
	return bestK, bestTotal
}

// requireValid checks that res is a well-formed assignment for cost: one entry per row, in
// range, injective, no Forbidden pair, and Matched and Total that agree with RowToCol.
func requireValid(t testing.TB, cost [][]float64, res Result) {
	t.Helper()
	require.Len(t, res.RowToCol, len(cost))
	seen := map[int]int{}
	matched, total := 0, 0.0
	for i, j := range res.RowToCol {
		if j == Unmatched {
			continue
		}
		require.True(t, j >= 0 && j < len(cost[i]), "row %d got column %d of %d", i, j, len(cost[i]))
		require.Less(t, cost[i][j], Forbidden, "row %d got Forbidden column %d", i, j)
		if other, ok := seen[j]; ok {
			require.Failf(t, "column used twice", "rows %d and %d both got column %d", other, i, j)
		}
		seen[j] = i
		matched++
		total += cost[i][j]
	}
	require.Equal(t, matched, res.Matched, "Matched disagrees with RowToCol")
	require.Equal(t, total, res.Total, "Total disagrees with RowToCol")
}

// closeTotal reports whether two totals agree within a relative 1e-9.
func closeTotal(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func TestBruteForceOracle(t *testing.T) {
	F := Forbidden
	k, total := bruteForce([][]float64{{1, 5}, {2, F}})
	assert.Equal(t, 2, k)
	assert.Equal(t, 7.0, total)
	k, total = bruteForce([][]float64{{F, F}, {3, 1}})
	assert.Equal(t, 1, k)
	assert.Equal(t, 1.0, total)
	k, total = bruteForce(nil)
	assert.Equal(t, 0, k)
	assert.Equal(t, 0.0, total)
}
