package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPeakPerSec(t *testing.T) {
	assert.Zero(t, peakPerSec(nil, 5))
	assert.Equal(t, 2.0, peakPerSec([]int64{1, 2, 3}, 5), "fewer seconds than the window: their mean")
	assert.Equal(t, 8.0, peakPerSec([]int64{1, 1, 1, 1, 1, 10, 10, 10, 5, 5, 1}, 5))
	assert.Equal(t, 10.0, peakPerSec([]int64{1, 10, 3}, 1))
}

func TestFixTrackerCountsLostAndDuplicates(t *testing.T) {
	tr := newFixTracker(2)
	for range 100 {
		tr.sent(0)
	}
	tr.sent(1)
	tr.sent(1)
	for seq := uint64(1); seq <= 100; seq++ {
		if seq%10 != 0 { // 10 lost
			assert.True(t, tr.seen(0, seq))
		}
	}
	assert.False(t, tr.seen(0, 5), "a second copy")
	assert.False(t, tr.seen(0, 5))
	assert.True(t, tr.seen(1, 2))
	assert.False(t, tr.seen(2, 1), "not a driver of the run")
	assert.False(t, tr.seen(1, 0))
	assert.False(t, tr.seen(1, maxSeq+1))
	assert.True(t, tr.seen(1, 3), "arrived before its send was recorded (or a send that failed and arrived)")

	assert.Equal(t, int64(102), tr.totalSent())
	assert.Equal(t, int64(92), tr.received)
	assert.Equal(t, int64(2), tr.duplicates)
	assert.Equal(t, int64(3), tr.foreign)
	assert.Equal(t, int64(10+1), tr.lost(), "driver 0 lost 10, driver 1 lost seq 1; seq 3 of driver 1 is beyond its sends")
	tr.sent(1)
	assert.Equal(t, int64(11), tr.lost(), "its send recorded: now seq 3 counts")
}

// A run's accounting with fixed inputs: quantiles, counts, lost and duplicated messages.
func TestLedgerReport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newLedger(t0, 2)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	// 4 webhooks: 3 accepted (acks 10, 20, 30 ms), 1 answered 401
	recs := make([]*orderRec, 4)
	for i := range recs {
		recs[i] = l.webhookSending("shopify", "s1", "ext"+driverID(i), at(i*100), at(i*100))
	}
	l.webhookAnswered(recs[0], 200, "accepted", 10*time.Millisecond)
	l.webhookAnswered(recs[1], 200, "accepted", 20*time.Millisecond)
	l.webhookAnswered(recs[2], 200, "accepted", 30*time.Millisecond)
	l.webhookAnswered(recs[3], 401, "", 5*time.Millisecond)

	created := func(id string, i int, when int) {
		l.watcherEvent(&message{ID: "ev-c-" + id, Type: "OrderCreated", OrderID: id, Store: "s1", External: "ext" + driverID(i)}, at(when))
	}
	created("o1", 0, 50)
	created("o2", 1, 150)
	// o3's OrderCreated never comes: lost
	created("o1", 0, 60) // the same event again: a duplicate at the watcher

	// o1: offered to d00001 (webhook at 0 → offer at 40 ms), accepted, assigned, picked up, delivered
	offer := message{ID: "ev-o1", Type: "AssignmentOffered", OrderID: "o1", JobID: "j1", Driver: "d00001", Meters: ptr(500.0)}
	l.driverJob(&offer, "d00001", false, at(40))
	l.driverJob(&offer, "d00001", true, at(41)) // a duplicate at the driver
	l.watcherEvent(&offer, at(42))
	l.replySending("j1", "d00001", "accept", 500, at(100))
	assigned := message{ID: "ev-a1", Type: "OrderAssigned", OrderID: "o1", JobID: "j1", Driver: "d00001"}
	l.driverJob(&assigned, "d00001", false, at(110))
	l.watcherEvent(&assigned, at(125)) // accept → dispatcher: 25 ms
	l.replySending("j1", "d00001", "picked_up", 0, at(200))
	l.watcherEvent(&message{ID: "ev-p1", Type: "PickedUp", OrderID: "o1", JobID: "j1"}, at(210))
	l.replySending("j1", "d00001", "delivered", 0, at(300))
	l.watcherEvent(&message{ID: "ev-d1", Type: "DeliveryCompleted", OrderID: "o1", JobID: "j1"}, at(310))

	// o2: offered to d00002 (webhook at 100 → offer at 200: 100 ms), accepted; OrderAssigned
	// reaches the driver but never the watcher; no drop-off yet
	offer2 := message{ID: "ev-o2", Type: "AssignmentOffered", OrderID: "o2", JobID: "j2", Driver: "d00002", Meters: ptr(1500.0)}
	l.watcherEvent(&offer2, at(190))
	l.driverJob(&offer2, "d00002", false, at(200))
	l.replySending("j2", "d00002", "accept", 1500, at(210))
	l.driverJob(&message{ID: "ev-a2", Type: "OrderAssigned", OrderID: "o2", JobID: "j2"}, "d00002", false, at(220))
	// a picked_up the hub rejected is not expected to produce PickedUp
	l.replySending("j2", "d00002", "picked_up", 0, at(230))
	l.driverJob(&message{ID: "ev-r2", Type: "ReplyRejected", JobID: "j2", Action: "picked_up", Code: "illegal_transition"}, "d00002", false, at(240))

	// an offer the watcher saw and its driver never got; an offer of another run's order
	l.watcherEvent(&message{ID: "ev-o3", Type: "AssignmentOffered", OrderID: "o2", JobID: "j3", Driver: "d00001"}, at(300))
	l.driverJob(&message{ID: "ev-x", Type: "AssignmentOffered", OrderID: "old", JobID: "jx", Store: "s0", External: "1"}, "d00001", false, at(300))

	// fixes: driver 0 sent 3, one arrived twice, one lost; driver 1 sent 1
	l.fixSent(0)
	l.fixSent(0)
	l.fixSent(0)
	l.fixSent(1)
	l.fixSkipped()
	l.fixSeen(0, 1, 4*time.Millisecond)
	l.fixSeen(0, 1, 9*time.Millisecond)
	l.fixSeen(0, 2, 8*time.Millisecond)
	l.fixSeen(1, 1, 2*time.Millisecond)

	var r Report
	l.fill(&r, 4*time.Second, 0)
	w := r.Webhooks
	assert.Equal(t, int64(4), w.Sent)
	assert.Equal(t, int64(3), w.Accepted)
	assert.Equal(t, int64(1), w.Failed)
	assert.Equal(t, map[string]int64{"200 accepted": 3, "401": 1}, w.ByStatus)
	assert.InDelta(t, 10, w.AckP50, 0.1, "the 2nd of 5, 10, 20, 30 ms")
	assert.InDelta(t, 30, w.AckP99, 0.3)
	assert.InDelta(t, 30, w.AckMax, 1e-9)
	assert.InDelta(t, 0.75, w.PerSec, 1e-9)
	assert.InDelta(t, 0.75, w.PeakPerSec, 1e-9, "3 accepted in the first second, 0 in the next three")

	assert.Equal(t, OrderStats{Created: 2, Offered: 2, Accepted: 1, PickedUp: 1, Delivered: 1, Open: 1}, r.Orders)
	assert.InDelta(t, 40, r.Latency.WebhookToOfferP50, 0.5)
	assert.InDelta(t, 100, r.Latency.WebhookToOfferP99, 1)
	assert.InDelta(t, 25, r.Latency.AcceptToAssignedP99, 0.3)
	assert.InDelta(t, 8, r.Latency.LocationP99, 0.1)
	assert.InDelta(t, 4, r.Latency.LocationP50, 0.1)

	assert.Equal(t, FixStats{Sent: 4, Dropped: 1, Received: 3, Lost: 1, Duplicates: 1}, r.Fixes)
	assert.Equal(t, LostStats{OrderCreated: 1, OffersAtDriver: 1, AssignedAtWatcher: 1, Fixes: 1}, r.Lost)
	assert.Equal(t, int64(4), r.LostMessages)
	assert.Equal(t, DuplicateStats{JobsAtDrivers: 1, EventsAtWatcher: 1, Fixes: 1}, r.DuplicatesBy)
	assert.Equal(t, int64(3), r.Duplicates)
	assert.InDelta(t, 1000, r.MeanPickupM, 1e-9, "mean of 500 and 1500")
	assert.Equal(t, map[string]int{"illegal_transition": 1}, r.RejectedReplies)
	assert.Equal(t, int64(1), r.ForeignJobs)
	assert.ElementsMatch(t, []string{"o2"}, l.openOrders())
	assert.False(t, l.allDelivered(true))
	assert.False(t, l.allDelivered(false), "o3 was never created")

	table := r.Table()
	for _, want := range []string{"webhooks", "4 sent, 3 accepted", "webhook → offer", "lost messages", "4 (created 1",
		"duplicates", "1000 m", "illegal_transition: 1"} {
		assert.Contains(t, table, want)
	}
	require.Equal(t, len(strings.Split(strings.TrimSpace(table), "\n")), strings.Count(table, "\n"))

	p := l.snapshot()
	assert.Equal(t, int64(4), p.sent)
	assert.Equal(t, int64(1), p.open)
	assert.True(t, p.hasAck)
	assert.Zero(t, l.snapshot().sent, "a new window")
}

// A sender that falls behind its schedule sends after the phase's end: the rates are taken
// over the seconds it sent in, not over the phase.
func TestRatesCoverSendsPastThePhase(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := newLedger(start, 0)
	for s := range 6 { // 10 a second for 6 s, against a 2 s phase
		for i := range 10 {
			at := start.Add(time.Duration(s)*time.Second + time.Duration(i)*50*time.Millisecond)
			r := l.webhookSending("shopify", "s1", fmt.Sprintf("e%d-%d", s, i), at, at)
			l.webhookAnswered(r, 200, "accepted", time.Millisecond)
		}
	}
	var r Report
	l.fill(&r, 2*time.Second, 0)
	assert.InDelta(t, 10, r.Webhooks.PerSec, 1e-9, "60 accepted over the 6 s they were sent in")
	assert.InDelta(t, 10, r.Webhooks.PeakPerSec, 1e-9)
}

// What the warm-up sends goes to its own figures: the run's acks, latencies and rate are those
// of the measured phase alone, while totals and losses count both.
func TestWarmupIsReportedApart(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	l := newLedger(start.Add(-5*time.Second), 1) // as Run: the ledger starts before the warm-up

	l.warmup(true)
	w := l.webhookSending("shopify", "s1", "w1", at(-2000), at(-2000))
	l.webhookAnswered(w, 200, "accepted", 400*time.Millisecond)
	l.watcherEvent(&message{ID: "ev-w1", Type: "OrderCreated", OrderID: "ow1", Store: "s1", External: "w1"}, at(-1100)) // 900 ms
	l.fixSent(0)
	l.fixSeen(0, 1, 700*time.Millisecond)
	l.replySending("jw", "d00000", "accept", 100, at(-1000))
	l.warmup(false)
	l.start = start // the measured phase
	// the warm-up's accept is answered in the phase: not the phase's latency
	l.watcherEvent(&message{ID: "ev-aw", Type: "OrderAssigned", OrderID: "ow1", JobID: "jw", Driver: "d00000"}, at(50))

	m := l.webhookSending("shopify", "s1", "m1", at(100), at(100))
	l.webhookAnswered(m, 200, "accepted", 5*time.Millisecond)
	l.watcherEvent(&message{ID: "ev-m1", Type: "OrderCreated", OrderID: "om1", Store: "s1", External: "m1"}, at(120)) // 20 ms
	l.fixSent(0)
	l.fixSeen(0, 2, 3*time.Millisecond)
	l.replySending("jm", "d00000", "accept", 100, at(200))
	l.watcherEvent(&message{ID: "ev-am", Type: "OrderAssigned", OrderID: "om1", JobID: "jm", Driver: "d00000"}, at(230)) // 30 ms

	var r Report
	l.fill(&r, time.Second, 5*time.Second)
	require.NotNil(t, r.Warmup)
	assert.InDelta(t, 1050, r.Warmup.AcceptToAssignedP99, 11, "accepted at -1000, assigned at 50")
	r.Warmup.AcceptToAssignedP99 = 0
	assert.Equal(t, WarmupStats{Seconds: 5, Webhooks: 1, AckP99: 400, WebhookToCreatedP99: 900}, *r.Warmup)
	assert.Equal(t, int64(1), r.Latency.AcceptsMeasured)
	assert.Equal(t, int64(2), r.Webhooks.Sent, "totals count the warm-up")
	assert.Equal(t, int64(2), r.Orders.Created)
	assert.InDelta(t, 5, r.Webhooks.AckP99, 0.1, "the measured phase's ack alone")
	assert.InDelta(t, 20, r.Latency.WebhookToCreatedP99, 0.3)
	assert.InDelta(t, 3, r.Latency.LocationP99, 0.1, "the warm-up's fix is not in the figure")
	assert.InDelta(t, 30, r.Latency.AcceptToAssignedP99, 0.3, "the warm-up's accept is not in the figure")
	assert.InDelta(t, 1, r.Webhooks.PerSec, 1e-9, "1 accepted in the 1 s phase; the warm-up's is not in the rate")
	assert.Contains(t, r.Table(), "warm-up")

	var cold Report
	newLedger(start, 0).fill(&cold, time.Second, 0)
	assert.Nil(t, cold.Warmup, "no warm-up, no section")
}
