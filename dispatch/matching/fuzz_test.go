package matching

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzCost builds a matrix of at most 6×6 from data. data[0] and data[1] give the shape,
// and every later byte is one entry, read row by row. Missing entries are 0. A byte of 224
// or more is Forbidden; any other byte b costs b/4. Such costs add up exactly in float64, so
// Solve must equal the brute force exactly.
func fuzzCost(data []byte) [][]float64 {
	if len(data) < 2 {
		return nil
	}
	n, m := int(data[0]%7), int(data[1]%7)
	data = data[2:]
	cost := make([][]float64, n)
	for i := range cost {
		cost[i] = make([]float64, m)
		for j := range cost[i] {
			k := i*m + j
			if k >= len(data) {
				continue
			}
			switch b := data[k]; {
			case b >= 240:
				cost[i][j] = inf
			case b >= 224:
				cost[i][j] = F
			default:
				cost[i][j] = float64(b) / 4
			}
		}
	}
	return cost
}

func FuzzSolve(f *testing.F) {
	f.Add([]byte{3, 3, 16, 4, 12, 8, 0, 20, 12, 8, 8})   // the classic 3×3
	f.Add([]byte{2, 2, 4, 20, 8, 224})                   // Greedy strands an order
	f.Add([]byte{4, 1, 224, 12, 8, 240})                 // more orders than drivers
	f.Add([]byte{1, 5, 224, 224, 224, 224, 224})         // no driver fits
	f.Add([]byte{6, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // ties
	f.Fuzz(func(t *testing.T, data []byte) {
		cost := fuzzCost(data)
		matched, total := bruteForce(cost)
		res, err := Solve(cost)
		require.NoError(t, err)
		requireValid(t, cost, res)
		require.Equal(t, matched, res.Matched, "matched count for %v", cost)
		require.Equal(t, total, res.Total, "total for %v", cost)

		g, err := Greedy(cost)
		require.NoError(t, err)
		requireValid(t, cost, g)
		require.LessOrEqual(t, g.Matched, res.Matched)
		if g.Matched == res.Matched {
			require.LessOrEqual(t, res.Total, g.Total)
		}
	})
}
