package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets durations on a log-linear scale, as HDR histograms do: values below
// 2^(histSubBits+1) ns have a bucket each, larger ones fall in one of 2^histSubBits buckets
// per power of two, so a quantile is within 1/2^histSubBits (0.8 %) of the true value. The
// zero value is empty and ready; it is not safe for concurrent use.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// every int64: the largest shift is 63-histSubBits.
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histIndex is the bucket of v ≥ 0.
func histIndex(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1)
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// histUpper is the largest value of bucket i.
func histUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	m := int64(i%histSub + histSub)
	upper := uint64(m+1)<<shift - 1
	if upper > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(upper)
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile is the value at or below which a fraction q (0..1) of the values lie: the upper
// bound of the bucket holding the value of rank ⌈q·n⌉, never above the largest value
// recorded. An empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(histUpper(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
