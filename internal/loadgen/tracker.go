package loadgen

import (
	"sync"
	"time"
)

// tracker accounts for what the dispatcher receives: for every driver, which of its
// sequence numbers (1, 2, ...) arrived, so that a second copy counts as a duplicate and a
// missing one as lost; and the end-to-end latency of each first copy.
type tracker struct {
	mu         sync.Mutex
	seen       [][]uint64 // per driver: bit seq-1 set when seq arrived
	delivered  int64      // first copies
	duplicates int64      // further copies
	foreign    int64      // messages that are not a fix of a known driver
	latency    Histogram  // of first copies
}

func newTracker(drivers int) *tracker {
	return &tracker{seen: make([][]uint64, drivers)}
}

// record accounts for one received fix of driver drv with sequence number seq (from 1),
// latency after it was sent. It reports whether it was the first copy.
func (t *tracker) record(drv int, seq uint64, latency time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if drv < 0 || drv >= len(t.seen) || seq == 0 || seq > maxSeq {
		t.foreign++
		return false
	}
	word, bit := int((seq-1)/64), uint64(1)<<((seq-1)%64)
	bs := t.seen[drv]
	if word >= len(bs) {
		bs = append(bs, make([]uint64, word+1-len(bs))...)
		t.seen[drv] = bs
	}
	if bs[word]&bit != 0 {
		t.duplicates++
		return false
	}
	bs[word] |= bit
	t.delivered++
	t.latency.Record(latency)
	return true
}

// maxSeq bounds the sequence numbers accepted (and so the memory a bad payload can make the
// tracker allocate): 2^24 fixes per driver, 93 days at 2 Hz.
const maxSeq = 1 << 24

// recordForeign counts a message that is not a fix of a known driver.
func (t *tracker) recordForeign() {
	t.mu.Lock()
	t.foreign++
	t.mu.Unlock()
}

// deliveries is the number of first copies so far.
func (t *tracker) deliveries() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delivered
}

// tally is what the tracker accounted for, given how many fixes were sent.
type tally struct {
	Delivered, Duplicates, Lost, Foreign int64
	Latency                              Histogram
}

// tally computes the totals: a fix sent and never received is lost. A send that failed
// after the packet left (the publisher cannot tell) and arrived anyway is not held against
// the broker: lost never goes below zero.
func (t *tracker) tally(sent int64) tally {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tally{
		Delivered:  t.delivered,
		Duplicates: t.duplicates,
		Lost:       max(sent-t.delivered, 0),
		Foreign:    t.foreign,
		Latency:    t.latency,
	}
}
