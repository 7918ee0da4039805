package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTrackerLossAndDuplicates(t *testing.T) {
	tr := newTracker(3)
	// driver 0 sent 1..10: 7 never arrives, 3 arrives twice
	for seq := uint64(1); seq <= 10; seq++ {
		if seq == 7 {
			continue
		}
		assert.True(t, tr.record(0, seq, time.Millisecond), "seq %d", seq)
	}
	assert.False(t, tr.record(0, 3, 5*time.Millisecond), "second copy")
	// driver 2 sent 1..3, arriving out of order; driver 1 sent nothing
	for _, seq := range []uint64{2, 1, 3} {
		assert.True(t, tr.record(2, seq, 2*time.Millisecond))
	}

	got := tr.tally(13)
	assert.Equal(t, int64(12), got.Delivered)
	assert.Equal(t, int64(1), got.Duplicates)
	assert.Equal(t, int64(1), got.Lost)
	assert.Zero(t, got.Foreign)
	assert.Equal(t, uint64(12), got.Latency.Count(), "latency of first copies only")
	assert.Equal(t, 2*time.Millisecond, got.Latency.Max())
	assert.Equal(t, int64(12), tr.deliveries())
}

func TestTrackerSequencesBeyondOneWord(t *testing.T) {
	tr := newTracker(1)
	for seq := uint64(1); seq <= 200; seq++ {
		tr.record(0, seq, time.Millisecond)
	}
	for _, seq := range []uint64{64, 65, 128, 200} {
		assert.False(t, tr.record(0, seq, time.Millisecond), "seq %d again", seq)
	}
	got := tr.tally(200)
	assert.Equal(t, int64(200), got.Delivered)
	assert.Equal(t, int64(4), got.Duplicates)
	assert.Zero(t, got.Lost)
}

func TestTrackerForeign(t *testing.T) {
	tr := newTracker(2)
	assert.False(t, tr.record(-1, 1, 0))
	assert.False(t, tr.record(2, 1, 0), "unknown driver")
	assert.False(t, tr.record(0, 0, 0), "sequence numbers start at 1")
	assert.False(t, tr.record(0, maxSeq+1, 0), "beyond the bound")
	tr.recordForeign()
	got := tr.tally(0)
	assert.Equal(t, int64(5), got.Foreign)
	assert.Zero(t, got.Delivered)
	assert.Zero(t, got.Duplicates)
}

func TestTrackerLostNeverNegative(t *testing.T) {
	tr := newTracker(1)
	tr.record(0, 1, 0)
	tr.record(0, 2, 0)
	// a publish reported as failed whose packet still reached the broker
	assert.Zero(t, tr.tally(1).Lost)
}
