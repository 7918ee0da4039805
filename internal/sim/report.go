package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pilotx/dispatchhub/internal/loadgen"
)

// Report is what a run measured. Latencies are in milliseconds.
type Report struct {
	Tenant    string   `json:"tenant"`
	City      string   `json:"city"`
	Seed      uint64   `json:"seed"`
	Stores    int      `json:"stores"`
	Platforms []string `json:"platforms"`
	Rate      float64  `json:"rate"`    // webhooks per second before the profile
	Profile   string   `json:"profile"` // flat, lunch, burst, ramp
	Seconds   float64  `json:"seconds"` // of the webhook phase
	// Warmup is the phase before it, when there is one: webhooks at Rate whose latencies
	// are not in Webhooks' and Latency's figures (they count in every total, loss and
	// duplicate).
	Warmup *WarmupStats `json:"warmup,omitempty"`

	Drivers          int `json:"drivers"`
	DriversConnected int `json:"drivers_connected"`
	DriversLost      int `json:"drivers_lost"` // connections that ended before the run did

	Webhooks WebhookStats `json:"webhooks"`
	Orders   OrderStats   `json:"orders"`
	Latency  LatencyStats `json:"latency_ms"`
	Fixes    FixStats     `json:"fixes"`

	// LostMessages counts what was expected and never arrived (Lost has it by kind);
	// fixes the simulator's own GPS dropout withheld are not expected.
	LostMessages int64     `json:"lost_messages"`
	Lost         LostStats `json:"lost"`
	// Duplicates counts messages received twice: a job event at its driver, a domain event
	// at the watcher, a fix at the watcher.
	Duplicates      int64          `json:"duplicates"`
	DuplicatesBy    DuplicateStats `json:"duplicates_by"`
	MeanPickupM     float64        `json:"mean_pickup_m"`    // of the accepted offers of this run's orders
	RejectedReplies map[string]int `json:"rejected_replies"` // ReplyRejected by code
	// ForeignJobs counts offers of orders this run did not send (left open by an earlier run).
	ForeignJobs int64          `json:"foreign_jobs"`
	Errors      map[string]int `json:"errors,omitempty"` // failures by kind and message
}

// WarmupStats are the warm-up's own figures.
type WarmupStats struct {
	Seconds             float64 `json:"seconds"`
	Webhooks            int64   `json:"webhooks"`
	AckP99              float64 `json:"ack_p99_ms"`
	WebhookToCreatedP99 float64 `json:"webhook_to_created_p99_ms"`
	WebhookToOfferP99   float64 `json:"webhook_to_offer_p99_ms"`
	AcceptToAssignedP99 float64 `json:"accept_to_assigned_p99_ms"`
}

// WebhookStats are the store webhooks and their answers.
type WebhookStats struct {
	Sent      int64            `json:"sent"`
	Accepted  int64            `json:"accepted"`  // 200 accepted
	Duplicate int64            `json:"duplicate"` // 200 duplicate
	Failed    int64            `json:"failed"`    // any other answer, or none
	ByStatus  map[string]int64 `json:"by_status"`
	PerSec    float64          `json:"per_sec"` // accepted over the webhook phase, or over the sends when they ran past it
	// PeakPerSec is the highest number of accepted webhooks per second over any 5 s of the
	// run (by send time): the highest sustained rate.
	PeakPerSec float64 `json:"peak_per_sec"`
	AckP50     float64 `json:"ack_p50_ms"`
	AckP95     float64 `json:"ack_p95_ms"`
	AckP99     float64 `json:"ack_p99_ms"`
	AckMax     float64 `json:"ack_max_ms"`
	// LateP99 is how far behind schedule webhooks left (p99): above a few ms, the simulator
	// itself was the bottleneck (CPU, or MaxInFlight answers outstanding).
	LateP99 float64 `json:"late_p99_ms"`
}

// OrderStats count this run's orders by how far they got (as the watcher saw them).
type OrderStats struct {
	Created   int64 `json:"created"`
	Offered   int64 `json:"offered"`
	Accepted  int64 `json:"accepted"`
	PickedUp  int64 `json:"picked_up"`
	Delivered int64 `json:"delivered"`
	Cancelled int64 `json:"cancelled"`
	Open      int64 `json:"open"` // created, neither delivered nor cancelled, at the end
	// CancelledAtEnd are open orders the simulator cancelled when it finished (through the
	// REST API), so that a next run on the tenant starts clean.
	CancelledAtEnd int64 `json:"cancelled_at_end"`
}

// LatencyStats are the end-to-end latencies, in milliseconds.
type LatencyStats struct {
	// WebhookToCreated: the webhook's send → its OrderCreated at the dispatcher, through the
	// edge, INGEST, intake, the outbox, EVENTS and the MQTT bridge: the pack's "internal
	// propagation" (p99 < 500 ms).
	WebhookToCreatedP50 float64 `json:"webhook_to_created_p50"`
	WebhookToCreatedP99 float64 `json:"webhook_to_created_p99"`
	// WebhookToOffer: the webhook's send → its order's first AssignmentOffered at a driver.
	// It includes the wait for a free driver when every driver is busy.
	WebhookToOfferP50 float64 `json:"webhook_to_offer_p50"`
	WebhookToOfferP99 float64 `json:"webhook_to_offer_p99"`
	// AcceptToAssigned: a driver's accept sent → OrderAssigned at the dispatcher.
	AcceptToAssignedP50 float64 `json:"accept_to_assigned_p50"`
	AcceptToAssignedP99 float64 `json:"accept_to_assigned_p99"`
	// AcceptsMeasured counts the accepts behind them: 0 when every driver took its order in
	// the warm-up and was still on it at the end (scenario a), and then see the warm-up's.
	AcceptsMeasured int64 `json:"accepts_measured"`
	// Location: a fix's ts → the fix at the dispatcher.
	LocationP50 float64 `json:"location_p50"`
	LocationP99 float64 `json:"location_p99"`
}

// FixStats are the drivers' location fixes.
type FixStats struct {
	Sent       int64 `json:"sent"`
	Dropped    int64 `json:"dropped_by_gps"` // withheld by the simulated GPS dropout, never sent
	Received   int64 `json:"received"`       // distinct fixes at the dispatcher
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
}

// LostStats are the lost messages by kind.
type LostStats struct {
	OrderCreated      int64 `json:"order_created"`       // accepted webhooks whose OrderCreated never came
	OffersAtDriver    int64 `json:"offers_at_driver"`    // AssignmentOffered the dispatcher saw and the driver did not get
	OffersAtWatcher   int64 `json:"offers_at_watcher"`   // offers a driver got and the dispatcher never saw
	AssignedAtDriver  int64 `json:"assigned_at_driver"`  // accepts without OrderAssigned at the driver
	AssignedAtWatcher int64 `json:"assigned_at_watcher"` // accepts without OrderAssigned at the dispatcher
	PickedUp          int64 `json:"picked_up"`           // picked_up replies without PickedUp
	Delivered         int64 `json:"delivered"`           // delivered replies without DeliveryCompleted
	Fixes             int64 `json:"fixes"`
}

// DuplicateStats are the duplicated messages by kind.
type DuplicateStats struct {
	JobsAtDrivers   int64 `json:"jobs_at_drivers"`
	EventsAtWatcher int64 `json:"events_at_watcher"`
	Fixes           int64 `json:"fixes"`
}

// ms is d in milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// peakPerSec is the highest mean of window consecutive counts (all of them when there are
// fewer).
func peakPerSec(perSec []int64, window int) float64 {
	if len(perSec) == 0 || window < 1 {
		return 0
	}
	window = min(window, len(perSec))
	var sum, best int64
	for i, n := range perSec {
		sum += n
		if i >= window {
			sum -= perSec[i-window]
		}
		if i >= window-1 {
			best = max(best, sum)
		}
	}
	return float64(best) / float64(window)
}

// fill writes the ledger's totals into r; phase is the length of the webhook phase.
func (l *ledger) fill(r *Report, phase, warm time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := func(h *loadgen.Histogram, p float64) float64 { return ms(h.Quantile(p)) }
	r.Seconds = phase.Seconds()
	r.Webhooks = WebhookStats{
		Sent: l.whSent, Accepted: l.whAccepted, Duplicate: l.whDuplicate, Failed: l.whFailed,
		ByStatus: maps.Clone(l.whStatus),
		AckP50:   q(&l.ack, 0.5), AckP95: q(&l.ack, 0.95), AckP99: q(&l.ack, 0.99), AckMax: ms(l.ack.Max()),
		LateP99: q(&l.late, 0.99),
	}
	// The webhooks' span: the phase, or longer when the sender fell behind its schedule and
	// sent after the phase's end (its MaxInFlight answers outstanding).
	span := max(phase, time.Duration(len(l.whAcceptedAt))*time.Second)
	var measured int64 // accepted, warm-up's excepted
	for _, n := range l.whAcceptedAt {
		measured += n
	}
	if span > 0 {
		r.Webhooks.PerSec = float64(measured) / span.Seconds()
	}
	// whole seconds of the span only: the last one is cut short
	full := max(int(span/time.Second), 1)
	secs := make([]int64, full) // a second without any counts as 0
	copy(secs, l.whAcceptedAt)
	r.Webhooks.PeakPerSec = peakPerSec(secs, 5)
	r.Orders = OrderStats{
		Created: l.created, Offered: l.offered, Accepted: l.accepted, PickedUp: l.pickedUp,
		Delivered: l.delivered, Cancelled: l.cancelled, Open: l.created - l.delivered - l.cancelled,
	}
	r.Latency = LatencyStats{
		WebhookToCreatedP50: q(&l.createdLat, 0.5), WebhookToCreatedP99: q(&l.createdLat, 0.99),
		WebhookToOfferP50: q(&l.offer, 0.5), WebhookToOfferP99: q(&l.offer, 0.99),
		AcceptToAssignedP50: q(&l.assigned, 0.5), AcceptToAssignedP99: q(&l.assigned, 0.99), AcceptsMeasured: int64(l.assigned.Count()),
		LocationP50: q(&l.loc, 0.5), LocationP99: q(&l.loc, 0.99),
	}
	if warm > 0 {
		r.Warmup = &WarmupStats{
			Seconds: warm.Seconds(), Webhooks: l.warmSent, AckP99: q(&l.warmAck, 0.99),
			WebhookToCreatedP99: q(&l.warmCreated, 0.99), WebhookToOfferP99: q(&l.warmOff, 0.99),
			AcceptToAssignedP99: q(&l.warmAssigned, 0.99),
		}
	}
	x := l.missingLocked()
	r.Fixes = FixStats{Sent: l.fixes.totalSent(), Dropped: l.fixes.skipped, Received: l.fixes.received, Lost: x.Fixes, Duplicates: l.fixes.duplicates}
	r.Lost = LostStats{
		OrderCreated: x.Created, OffersAtDriver: x.OfferAtDriver, OffersAtWatcher: x.OfferAtWatcher,
		AssignedAtDriver: x.AssignedAtDriver, AssignedAtWatcher: x.AssignedAtWatcher,
		PickedUp: x.PickedUp, Delivered: x.Delivered, Fixes: x.Fixes,
	}
	r.LostMessages = x.Total()
	r.DuplicatesBy = DuplicateStats{JobsAtDrivers: l.jobDuplicates, EventsAtWatcher: l.eventDuplicates, Fixes: l.fixes.duplicates}
	r.Duplicates = l.jobDuplicates + l.eventDuplicates + l.fixes.duplicates
	if l.pickups > 0 {
		r.MeanPickupM = l.pickupMeters / float64(l.pickups)
	}
	r.RejectedReplies = map[string]int{}
	for code, n := range l.rejected {
		r.RejectedReplies[code] = int(n)
	}
	r.ForeignJobs = l.foreignJobs
}

// Table is the report as a two-column table for a terminal.
func (r Report) Table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("run", "%s, %d stores on %s, %.0f webhooks/s (%s) for %.0f s, seed %d", r.City, r.Stores, strings.Join(r.Platforms, ", "), r.Rate, r.Profile, r.Seconds, r.Seed)
	row("drivers", "%d connected of %d, %d lost their connection", r.DriversConnected, r.Drivers, r.DriversLost)
	if w := r.Warmup; w != nil {
		row("warm-up", "%.0f s before the run: %d webhooks, ack p99 %.1f ms, → OrderCreated p99 %.1f ms, → offer p99 %.1f ms, accept → dispatcher p99 %.1f ms (not in the figures below)",
			w.Seconds, w.Webhooks, w.AckP99, w.WebhookToCreatedP99, w.WebhookToOfferP99, w.AcceptToAssignedP99)
	}
	wh := r.Webhooks
	row("webhooks", "%d sent, %d accepted, %d duplicate, %d failed", wh.Sent, wh.Accepted, wh.Duplicate, wh.Failed)
	if len(wh.ByStatus) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(wh.ByStatus)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, wh.ByStatus[k]))
		}
		row("  answers", "%s", strings.Join(parts, ", "))
	}
	row("  rate", "%.1f/s accepted, peak %.1f/s over 5 s", wh.PerSec, wh.PeakPerSec)
	row("  ack", "p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (sender late p99 %.1f ms)", wh.AckP50, wh.AckP95, wh.AckP99, wh.AckMax, wh.LateP99)
	o := r.Orders
	row("orders", "%d created, %d offered, %d accepted, %d picked up, %d delivered, %d cancelled, %d open", o.Created, o.Offered, o.Accepted, o.PickedUp, o.Delivered, o.Cancelled, o.Open)
	if o.CancelledAtEnd > 0 {
		row("  at the end", "%d open orders cancelled", o.CancelledAtEnd)
	}
	l := r.Latency
	row("webhook → OrderCreated at dispatcher", "p50 %.1f ms, p99 %.1f ms", l.WebhookToCreatedP50, l.WebhookToCreatedP99)
	row("webhook → offer", "p50 %.1f ms, p99 %.1f ms", l.WebhookToOfferP50, l.WebhookToOfferP99)
	if l.AcceptsMeasured == 0 && r.Warmup != nil {
		row("accept → dispatcher", "no accept after the warm-up (its p99: %.1f ms)", r.Warmup.AcceptToAssignedP99)
	} else {
		row("accept → dispatcher", "p50 %.1f ms, p99 %.1f ms", l.AcceptToAssignedP50, l.AcceptToAssignedP99)
	}
	row("location → dispatcher", "p50 %.1f ms, p99 %.1f ms", l.LocationP50, l.LocationP99)
	f := r.Fixes
	row("fixes", "%d sent (%d withheld by GPS dropout), %d received", f.Sent, f.Dropped, f.Received)
	x := r.Lost
	row("lost messages", "%d (created %d, offers %d/%d at driver/dispatcher, assigned %d/%d, picked up %d, delivered %d, fixes %d)",
		r.LostMessages, x.OrderCreated, x.OffersAtDriver, x.OffersAtWatcher, x.AssignedAtDriver, x.AssignedAtWatcher, x.PickedUp, x.Delivered, x.Fixes)
	d := r.DuplicatesBy
	row("duplicates", "%d (jobs at drivers %d, events at dispatcher %d, fixes %d)", r.Duplicates, d.JobsAtDrivers, d.EventsAtWatcher, d.Fixes)
	row("mean pickup distance", "%.0f m", r.MeanPickupM)
	if len(r.RejectedReplies) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.RejectedReplies)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.RejectedReplies[k]))
		}
		row("rejected replies", "%s", strings.Join(parts, ", "))
	}
	if r.ForeignJobs > 0 {
		row("foreign offers", "%d (orders of an earlier run)", r.ForeignJobs)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		row("error", "%dx %s", r.Errors[k], k)
	}
	_ = w.Flush()
	return b.String()
}
