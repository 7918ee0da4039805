package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Count())
	assert.Zero(t, h.Quantile(0.5))
	assert.Zero(t, h.Quantile(0.99))
	assert.Zero(t, h.Max())
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	assert.Equal(t, time.Duration(50), h.Quantile(0.50))
	assert.Equal(t, time.Duration(99), h.Quantile(0.99))
	assert.Equal(t, time.Duration(100), h.Quantile(1))
	assert.Equal(t, time.Duration(1), h.Quantile(0))
	assert.Equal(t, time.Duration(100), h.Max())
}

func TestHistogramSingleValue(t *testing.T) {
	var h Histogram
	h.Record(1234567 * time.Nanosecond)
	// one value: every quantile is that value (the bucket bound is clamped to min and max)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		assert.Equal(t, 1234567*time.Nanosecond, h.Quantile(q), "q=%v", q)
	}
}

func TestHistogramNegativeIsZero(t *testing.T) {
	var h Histogram
	h.Record(-time.Second)
	assert.Equal(t, uint64(1), h.Count())
	assert.Zero(t, h.Quantile(0.5))
}

// Against exact percentiles of a skewed sample: within the bucket resolution.
func TestHistogramQuantilesWithinResolution(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 200_000)
	for i := range vals {
		// log-normal around 2 ms, from µs to seconds
		v := int64(2e6 * math.Exp(r.NormFloat64()*1.5))
		vals[i] = v
		h.Record(time.Duration(v))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := int64(h.Quantile(q))
		assert.GreaterOrEqual(t, got, exact, "q=%v: upper bound of the bucket", q)
		assert.InDelta(t, float64(exact), float64(got), float64(exact)/histSub+1, "q=%v", q)
	}
	assert.Equal(t, time.Duration(vals[len(vals)-1]), h.Max())
}

func TestHistogramBuckets(t *testing.T) {
	// indexes are contiguous and monotonic, and every value lies within its bucket's bounds
	prev := -1
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 1, 1e9, 1 << 40, math.MaxInt64} {
		i := histIndex(v)
		require.Less(t, i, histBuckets)
		require.GreaterOrEqual(t, i, prev, "v=%d", v)
		prev = i
		require.GreaterOrEqual(t, histUpper(i), v, "v=%d", v)
		if i > 0 {
			require.Less(t, histUpper(i-1), v, "v=%d: the previous bucket ends below it", v)
		}
	}
	for i := 1; i < histIndex(math.MaxInt64); i++ {
		require.Equal(t, histUpper(i-1)+1, lowerOf(i), "bucket %d starts where %d ends", i, i-1)
	}
}

func lowerOf(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	return int64(i%histSub+histSub) << shift
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for v := 1; v <= 1000; v++ {
		d := time.Duration(v) * time.Microsecond
		all.Record(d)
		if v%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	a.Merge(&b)
	assert.Equal(t, all.Count(), a.Count())
	assert.Equal(t, all.Max(), a.Max())
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		assert.Equal(t, all.Quantile(q), a.Quantile(q), "q=%v", q)
	}
	empty.Merge(&all)
	assert.Equal(t, all.Quantile(0.5), empty.Quantile(0.5))
	assert.Equal(t, all.Quantile(0), empty.Quantile(0))
}
