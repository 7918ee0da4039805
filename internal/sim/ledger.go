package sim

import (
	"math/bits"
	"strconv"
	"sync"
	"time"

	"github.com/pilotx/dispatchhub/internal/loadgen"
)

// ledger accounts for everything a run sent and saw: webhooks and their answers, the orders
// they became, every job at the drivers and at the watcher, and every fix. Senders record
// before they send, receivers when they receive, so that a receipt that beats its send's
// return still finds its record. It is safe for concurrent use.
type ledger struct {
	mu sync.Mutex

	// webhooks
	whSent, whAccepted, whDuplicate, whFailed int64
	whStatus                                  map[string]int64 // by answer: "200 accepted", "429", "error"
	whAcceptedAt                              []int64          // accepted webhooks per second of the run, by their send second
	start                                     time.Time
	ack, late                                 loadgen.Histogram

	orders map[orderKey]*orderRec // by store and external id
	byID   map[string]*orderRec   // by the hub's order id
	jobs   map[string]*jobRec     // by job (assignment) id

	events          map[string]struct{} // event ids the watcher saw
	eventDuplicates int64               // further copies of an event at the watcher
	eventsSeen      int64
	otherMessages   int64 // what the watcher got besides events and fixes (orders, jobs, presence)
	foreignMessages int64 // unreadable payloads, fixes of drivers not in the run

	jobDuplicates int64            // a job event delivered twice to a driver
	jobsAtDrivers int64            // job messages the drivers received
	foreignJobs   int64            // offers of orders this run did not send (older runs)
	rejected      map[string]int64 // ReplyRejected by code

	createdLat, offer, assigned, loc loadgen.Histogram

	// warming is set during the warm-up: what it sends is marked, and its latencies go to
	// the warm-up's own histograms (or nowhere), not to the figures above.
	warming                       bool
	warmSent                      int64
	warmAck, warmCreated, warmOff loadgen.Histogram
	warmAssigned                  loadgen.Histogram

	// counts of this run's orders
	created, offered, accepted, pickedUp, delivered, cancelled int64

	pickupMeters float64 // summed over accepted offers
	pickups      int64

	fixes fixTracker

	win window // since the last progress line
}

// window is what the progress line shows: since the previous line.
type window struct {
	sent            int64
	ack, offer, loc loadgen.Histogram
}

type orderKey struct{ store, external string }

// orderRec is one webhook and the order it became.
type orderRec struct {
	platform   string
	sentAt     time.Time
	warm       bool // sent during the warm-up
	answered   bool
	ok         bool // 200 accepted: the hub holds the order
	id         string
	createdAt  time.Time // OrderCreated at the watcher
	firstOffer time.Time // the first AssignmentOffered at a driver
	offeredW   bool      // AssignmentOffered at the watcher
	assignedW  bool
	pickedUpW  bool
	delivered  bool
	cancelled  bool
}

// jobRec is one offer (assignment) of an order to a driver.
type jobRec struct {
	order            *orderRec // nil for an order of another run
	driver           string
	offerW, offerD   bool      // AssignmentOffered seen by the watcher, received by the driver
	acceptAt         time.Time // when the driver sent accept
	warmAccept       bool      // sent during the warm-up
	assignedW        bool      // OrderAssigned at the watcher
	assignedD        bool      // OrderAssigned at the driver
	sentPickedUp     bool
	sentDelivered    bool
	seenPickedUp     bool // PickedUp at the watcher
	seenDelivered    bool // DeliveryCompleted at the watcher
	rejectedAccept   bool // ReplyRejected for the accept
	rejectedProgress bool // ReplyRejected for picked_up or delivered
}

func newLedger(start time.Time, drivers int) *ledger {
	return &ledger{
		start:    start,
		whStatus: map[string]int64{},
		orders:   map[orderKey]*orderRec{},
		byID:     map[string]*orderRec{},
		jobs:     map[string]*jobRec{},
		events:   map[string]struct{}{},
		rejected: map[string]int64{},
		fixes:    newFixTracker(drivers),
	}
}

// webhookSending records a webhook about to be sent, due at due (its lateness is now-due).
func (l *ledger) webhookSending(platform, store, external string, now, due time.Time) *orderRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.whSent++
	l.win.sent++
	l.late.Record(now.Sub(due))
	r := &orderRec{platform: platform, sentAt: now, warm: l.warming}
	if l.warming {
		l.warmSent++
	}
	l.orders[orderKey{store, external}] = r
	return r
}

// webhookAnswered records the answer to a webhook: its HTTP status and status field ("" on a
// transport error) after took.
func (l *ledger) webhookAnswered(r *orderRec, code int, status string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.answered = true
	if r.warm {
		l.warmAck.Record(took)
	} else {
		l.ack.Record(took)
	}
	l.win.ack.Record(took)
	switch {
	case code == 200 && status == "accepted":
		r.ok = true
		l.whAccepted++
		sec := int(r.sentAt.Sub(l.start) / time.Second)
		if !r.warm && sec >= 0 && sec < 1<<20 { // the rates are the measured phase's
			for len(l.whAcceptedAt) <= sec {
				l.whAcceptedAt = append(l.whAcceptedAt, 0)
			}
			l.whAcceptedAt[sec]++
		}
	case code == 200:
		l.whDuplicate++
	default:
		l.whFailed++
	}
	key := "error"
	if code > 0 {
		key = strconv.Itoa(code)
		if status != "" {
			key += " " + status
		}
	}
	l.whStatus[key]++
}

// orderOf finds this run's order of an event or job payload (nil: not this run's).
func (l *ledger) orderOf(orderID, store, external string) *orderRec {
	if r := l.byID[orderID]; r != nil {
		return r
	}
	r := l.orders[orderKey{store, external}]
	if r != nil && orderID != "" && r.id == "" {
		r.id = orderID
		l.byID[orderID] = r
	}
	return r
}

// ours reports whether the job message is about an order this run sent.
func (l *ledger) ours(m *message) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.orderOf(m.OrderID, m.Store, m.External) != nil
}

func (l *ledger) job(id string) *jobRec {
	j := l.jobs[id]
	if j == nil {
		j = &jobRec{}
		l.jobs[id] = j
	}
	return j
}

// watcherEvent records a domain event the watcher received at now.
func (l *ledger) watcherEvent(e *message, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.ID != "" {
		if _, dup := l.events[e.ID]; dup {
			l.eventDuplicates++
			return
		}
		l.events[e.ID] = struct{}{}
	}
	l.eventsSeen++
	o := l.orderOf(e.OrderID, e.Store, e.External)
	var j *jobRec
	if e.JobID != "" {
		j = l.job(e.JobID)
		if j.order == nil {
			j.order = o
		}
		if j.driver == "" {
			j.driver = e.Driver
		}
	}
	switch e.Type {
	case "OrderCreated":
		if o != nil && o.createdAt.IsZero() {
			o.createdAt = now
			l.created++
			switch {
			case o.sentAt.IsZero():
			case o.warm:
				l.warmCreated.Record(now.Sub(o.sentAt))
			default:
				l.createdLat.Record(now.Sub(o.sentAt))
			}
		}
	case "AssignmentOffered":
		if j != nil {
			j.offerW = true
		}
		if o != nil && !o.offeredW {
			o.offeredW = true
			if o.firstOffer.IsZero() {
				l.offered++
			}
		}
	case "OrderAssigned":
		if j != nil {
			j.assignedW = true
			switch {
			case j.acceptAt.IsZero():
			case j.warmAccept:
				l.warmAssigned.Record(now.Sub(j.acceptAt))
			default:
				l.assigned.Record(now.Sub(j.acceptAt))
			}
		}
		if o != nil && !o.assignedW {
			o.assignedW = true
			l.accepted++
		}
	case "PickedUp":
		if j != nil {
			j.seenPickedUp = true
		}
		if o != nil && !o.pickedUpW {
			o.pickedUpW = true
			l.pickedUp++
		}
	case "DeliveryCompleted":
		if j != nil {
			j.seenDelivered = true
		}
		if o != nil && !o.delivered {
			o.delivered = true
			l.delivered++
		}
	case "OrderCancelled":
		if o != nil && !o.cancelled {
			o.cancelled = true
			l.cancelled++
		}
	}
}

// watcherOther counts a message the watcher does not account for; foreign marks one it
// could not read.
func (l *ledger) watcherOther(foreign bool) {
	l.mu.Lock()
	if foreign {
		l.foreignMessages++
	} else {
		l.otherMessages++
	}
	l.mu.Unlock()
}

// driverJob records a job message driver received at now; dup says the driver had it
// already (same event id).
func (l *ledger) driverJob(e *message, driver string, dup bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobsAtDrivers++
	if dup {
		l.jobDuplicates++
		return
	}
	o := l.orderOf(e.OrderID, e.Store, e.External)
	var j *jobRec
	if e.JobID != "" {
		j = l.job(e.JobID)
		if j.order == nil {
			j.order = o
		}
		if j.driver == "" {
			j.driver = driver
		}
	}
	switch e.Type {
	case "AssignmentOffered":
		if j != nil {
			j.offerD = true
		}
		if o == nil {
			l.foreignJobs++
			return
		}
		if o.firstOffer.IsZero() {
			o.firstOffer = now
			if o.warm {
				l.warmOff.Record(now.Sub(o.sentAt))
			} else {
				l.offer.Record(now.Sub(o.sentAt))
			}
			l.win.offer.Record(now.Sub(o.sentAt))
			if !o.offeredW {
				l.offered++
			}
		}
	case "OrderAssigned":
		if j != nil {
			j.assignedD = true
		}
	case "ReplyRejected":
		l.rejected[e.Code]++
		if j != nil {
			if e.Action == "accept" {
				j.rejectedAccept = true
			} else {
				j.rejectedProgress = true
			}
		}
	}
}

// replySending records a reply about to be published; meters is the pickup distance of an
// accept.
func (l *ledger) replySending(jobID, driver, action string, meters float64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	j := l.job(jobID)
	if j.driver == "" {
		j.driver = driver
	}
	switch action {
	case "accept":
		j.acceptAt, j.warmAccept = now, l.warming
		if j.order != nil {
			l.pickupMeters += meters
			l.pickups++
		}
	case "picked_up":
		j.sentPickedUp = true
	case "delivered":
		j.sentDelivered = true
	}
}

// fixSent records that driver i published fix seq; fixSkipped one the GPS dropped.
func (l *ledger) fixSent(i int) {
	l.mu.Lock()
	l.fixes.sent(i)
	l.mu.Unlock()
}

func (l *ledger) fixSkipped() {
	l.mu.Lock()
	l.fixes.skipped++
	l.mu.Unlock()
}

// fixSeen records fix seq of driver i at the watcher, latency after its ts.
func (l *ledger) fixSeen(i int, seq uint64, latency time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fixes.seen(i, seq) {
		if !l.warming {
			l.loc.Record(latency)
		}
		l.win.loc.Record(latency)
	}
}

// warmup marks what is sent from now on as the warm-up's (on) or the measured phase's.
func (l *ledger) warmup(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warming = on
}

// progress is one progress line's numbers: since the previous line, and the open orders.
type progress struct {
	sent                     int64
	open                     int64
	ackP99, offerP99, locP99 time.Duration
	hasAck, hasOffer, hasLoc bool
}

// snapshot returns the window's numbers and starts a new window.
func (l *ledger) snapshot() progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := progress{
		sent: l.win.sent, open: l.created - l.delivered - l.cancelled,
		ackP99: l.win.ack.Quantile(0.99), offerP99: l.win.offer.Quantile(0.99), locP99: l.win.loc.Quantile(0.99),
		hasAck: l.win.ack.Count() > 0, hasOffer: l.win.offer.Count() > 0, hasLoc: l.win.loc.Count() > 0,
	}
	l.win = window{}
	return p
}

// openOrders lists the hub's ids of this run's orders that are created and neither picked
// up, delivered nor cancelled.
func (l *ledger) openOrders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, o := range l.byID {
		if !o.createdAt.IsZero() && !o.pickedUpW && !o.delivered && !o.cancelled {
			ids = append(ids, id)
		}
	}
	return ids
}

// allDelivered reports whether every order the hub accepted is delivered or cancelled (with
// drivers) or created (without).
func (l *ledger) allDelivered(withDrivers bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !withDrivers {
		return l.created >= l.whAccepted
	}
	return l.delivered+l.cancelled >= l.whAccepted
}

// missing counts what was expected and has not arrived: OrderCreated of each accepted
// webhook, every offer at both its driver and the watcher, OrderAssigned at both for each
// accept the hub did not reject, PickedUp and DeliveryCompleted at the watcher for each reply
// sent and not rejected, and every fix sent. Jobs of orders this run did not send are left
// out.
func (l *ledger) missing() lost {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.missingLocked()
}

// lost is what was expected and not received, by kind.
type lost struct {
	Created, OfferAtDriver, OfferAtWatcher, AssignedAtDriver, AssignedAtWatcher, PickedUp, Delivered, Fixes int64
}

// Total is every lost message.
func (x lost) Total() int64 {
	return x.Created + x.OfferAtDriver + x.OfferAtWatcher + x.AssignedAtDriver + x.AssignedAtWatcher + x.PickedUp + x.Delivered + x.Fixes
}

func (l *ledger) missingLocked() lost {
	var x lost
	for _, o := range l.orders {
		if o.ok && o.createdAt.IsZero() {
			x.Created++
		}
	}
	for _, j := range l.jobs {
		if j.order == nil {
			continue // another run's order: nothing of it is expected
		}
		if j.offerW && !j.offerD {
			x.OfferAtDriver++
		}
		if j.offerD && !j.offerW {
			x.OfferAtWatcher++
		}
		if !j.acceptAt.IsZero() && !j.rejectedAccept {
			if !j.assignedD {
				x.AssignedAtDriver++
			}
			if !j.assignedW {
				x.AssignedAtWatcher++
			}
		}
		if j.sentPickedUp && !j.seenPickedUp && !j.rejectedProgress {
			x.PickedUp++
		}
		if j.sentDelivered && !j.seenDelivered && !j.rejectedProgress {
			x.Delivered++
		}
	}
	x.Fixes = l.fixes.lost()
	return x
}

// fixTracker accounts for the fixes: how many each driver sent (its sequence numbers are 1,
// 2, ...), which of them the watcher received (a second copy is a duplicate).
type fixTracker struct {
	sentBy     []uint64   // per driver: fixes sent, the highest sequence number
	seenBy     [][]uint64 // per driver: bit seq-1 set when seq arrived
	received   int64      // first copies
	duplicates int64
	foreign    int64 // a sequence number out of range or a driver not in the run
	skipped    int64 // fixes the GPS dropout withheld
}

// maxSeq bounds the sequence numbers (and the memory a bad payload can cost): 2^24 fixes.
const maxSeq = 1 << 24

func newFixTracker(drivers int) fixTracker {
	return fixTracker{sentBy: make([]uint64, drivers), seenBy: make([][]uint64, drivers)}
}

func (t *fixTracker) sent(i int) {
	if i >= 0 && i < len(t.sentBy) {
		t.sentBy[i]++
	}
}

// seen records seq of driver i and reports whether it is its first copy.
func (t *fixTracker) seen(i int, seq uint64) bool {
	if i < 0 || i >= len(t.seenBy) || seq == 0 || seq > maxSeq {
		t.foreign++
		return false
	}
	word, bit := int((seq-1)/64), uint64(1)<<((seq-1)%64)
	bs := t.seenBy[i]
	if word >= len(bs) {
		bs = append(bs, make([]uint64, word+1-len(bs))...)
		t.seenBy[i] = bs
	}
	if bs[word]&bit != 0 {
		t.duplicates++
		return false
	}
	bs[word] |= bit
	t.received++
	return true
}

// totalSent is the fixes sent by every driver.
func (t *fixTracker) totalSent() int64 {
	var n int64
	for _, s := range t.sentBy {
		n += int64(s)
	}
	return n
}

// lost is the fixes sent and never received. A fix whose publish failed after it left, and
// that arrived anyway, is not counted against the hub: lost never goes below zero per driver.
func (t *fixTracker) lost() int64 {
	var n int64
	for i, s := range t.sentBy {
		var got uint64
		for w, word := range t.seenBy[i] {
			first := uint64(w) * 64 // sequence numbers first+1 .. first+64
			if first >= s {
				break
			}
			if left := s - first; left < 64 {
				word &= 1<<left - 1
			}
			got += uint64(bits.OnesCount64(word))
		}
		n += int64(s - got)
	}
	return n
}
