package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/internal/jobtopic"
)

// tenantLoop dispatches one tenant: a goroutine that runs a round when woken (an event of the
// tenant, a reply applied here), when an offer or a batch window is due, and at every sweep.
// A wake for new orders alone is let pass when the last round found no free driver: nothing
// could be offered, and whatever frees a driver wakes the loop itself.
type tenantLoop struct {
	e       *Engine
	tenant  string
	wakeCh  chan struct{} // anything may have changed: a driver, an assignment, an order
	orderCh chan struct{} // new or re-queued orders only
	cancel  context.CancelFunc
	done    chan struct{}

	planner   Planner
	settings  Settings
	drivers   map[string]driverInfo
	driversAt time.Time
	lastFull  time.Time            // when the last full round read the tenant
	lastOpen  int                  // open assignments it saw
	lastFree  int                  // drivers free at the last full round: how many waiting orders to read with the open assignments
	noted     map[string]time.Time // order → when its last no_candidate/no_pickup decision was recorded
}

type driverInfo struct {
	capacity int
	onDuty   bool
}

func (e *Engine) startLoop(parent context.Context, tenant string) *tenantLoop {
	ctx, cancel := context.WithCancel(parent)
	l := &tenantLoop{
		e: e, tenant: tenant, wakeCh: make(chan struct{}, 1), orderCh: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
		noted: map[string]time.Time{},
	}
	go l.run(ctx)
	return l
}

func (l *tenantLoop) wake() { signal(l.wakeCh) }

func (l *tenantLoop) wakeForOrders() { signal(l.orderCh) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (l *tenantLoop) stop() {
	l.cancel()
	<-l.done
}

func (l *tenantLoop) run(ctx context.Context) {
	defer close(l.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wakeCh:
		case <-l.orderCh:
			if l.lastFree == 0 && !l.lastFull.IsZero() {
				// At 200 orders a second with every driver busy, a round per order would
				// read the tenant 200 times a second to offer nothing.
				l.e.m.skipped.Inc()
				continue
			}
		case <-timer.C:
		}
		next := l.round(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		d := l.e.cfg.SweepInterval
		if !next.IsZero() {
			d = min(d, max(time.Until(next), time.Millisecond))
		}
		timer.Reset(d)
	}
}

// snapshot is what a round reads of the tenant.
type snapshot struct {
	waiting  []waitingRow
	open     []openAssignment
	lockouts map[string]map[string]bool // order → drivers locked out of it
}

type waitingRow struct {
	Waiting
	hasPickup bool
}

// round runs one dispatch round and returns when the next is due (zero: at the next sweep).
func (l *tenantLoop) round(ctx context.Context) time.Time {
	ctx, cancel := context.WithTimeout(ctx, defaultRoundTimeout)
	defer cancel()
	start := l.e.now()
	l.e.m.rounds.Inc()
	next, err := l.dispatch(ctx)
	l.e.m.roundTime.Observe(time.Since(start).Seconds())
	if err != nil && ctx.Err() == nil {
		l.e.m.roundErrors.Inc()
		l.e.log.Warn().Err(err).Str("tenant", l.tenant).Msg("dispatch round failed: retried at the next sweep")
	}
	return next
}

func (l *tenantLoop) dispatch(ctx context.Context) (time.Time, error) {
	online, err := l.online(ctx)
	if err != nil {
		// Without presence the engine cannot tell who is there: it neither releases nor offers.
		return time.Time{}, fmt.Errorf("presence: %w", err)
	}
	now := l.e.now()
	if len(online) == 0 && l.lastOpen == 0 && now.Sub(l.lastFull) < l.e.cfg.SweepInterval {
		// Nobody online and no open assignment at the last round: an event cannot have made
		// work; the sweep still looks at everything.
		return l.lastFull.Add(l.e.cfg.SweepInterval), nil
	}
	if err := l.refresh(ctx); err != nil {
		return time.Time{}, err
	}
	// The waiting orders are read with the open assignments, in the same round trip, as many
	// as the drivers free at the last round could take; a round that finds more free drivers
	// reads more below.
	waitLimit := waitingLimit(max(l.lastFree, 1))
	snap, err := l.load(ctx, waitLimit)
	if err != nil {
		return time.Time{}, err
	}
	l.lastFull, l.lastOpen = now, len(snap.open)
	s := l.settings
	idx := l.e.Index(l.tenant)

	// Offers that ran out, and drivers lost (offline past the grace period, or silent).
	changed := false
	for _, a := range snap.open {
		reason, outcome := "", ""
		switch {
		case a.Status == "offered" && a.ExpiresAt != nil && !now.Before(*a.ExpiresAt):
			reason, outcome = ReasonExpired, OutcomeExpired
		case a.OrderStatus != StatusOffered && a.OrderStatus != StatusAssigned:
			continue // picked up: the goods are with the driver; nobody else can deliver them
		case !online[a.Driver]:
			reason, outcome = ReasonOffline, OutcomeReleased
		case l.silent(idx, a.Driver, now):
			reason, outcome = ReasonSilent, OutcomeReleased
		default:
			continue
		}
		to := "released"
		if reason == ReasonExpired {
			to = "expired"
		}
		ok, err := endAssignment(ctx, l.e.db, l.tenant, a, to, reason, outcome, s.Strategy, "dispatch")
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			changed = true
			l.e.m.decisions.WithLabelValues(string(s.Strategy), outcome).Inc()
		}
	}
	if changed {
		if snap, err = l.load(ctx, waitLimit); err != nil {
			return time.Time{}, err
		}
		l.lastOpen = len(snap.open)
	}

	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, a := range snap.open {
		if a.Status == "offered" && a.ExpiresAt != nil {
			due(*a.ExpiresAt)
		}
	}
	if s.Strategy == StrategyManual {
		return next, nil
	}

	av := l.availability(snap, online, idx, now)
	l.lastFree = av.FreeCount()
	switch want := waitingLimit(av.FreeCount()); {
	case av.FreeCount() == 0:
		// Nobody to offer to: the waiting orders are not worth planning.
		snap.waiting = nil
	case want > waitLimit && len(snap.waiting) == waitLimit:
		// More free drivers than the last round had, and maybe more orders than were read.
		snap.waiting, snap.lockouts = nil, map[string]map[string]bool{}
		if err := l.loadWaiting(ctx, &snap, want); err != nil {
			return next, err
		}
	}
	av.lockouts = snap.lockouts
	var waiting []Waiting
	var unplaceable []string
	for _, w := range snap.waiting {
		if w.hasPickup {
			waiting = append(waiting, w.Waiting)
		} else {
			unplaceable = append(unplaceable, w.ID)
		}
	}
	var props []Proposal
	kind := "offer"
	switch s.Strategy {
	case StrategyNearest:
		props = l.planner.Nearest(idx, waiting, av, s.MaxPickupMeters)
	case StrategyBroadcast:
		props, kind = l.planner.Broadcast(idx, waiting, av, s.MaxPickupMeters, s.BroadcastFanout), "broadcast"
	case StrategyBatch:
		if len(waiting) > 0 {
			window := BatchWindow(s.BatchWindow, len(waiting), av.FreeCount())
			oldest := waiting[0].Since
			for _, w := range waiting {
				if w.Since.Before(oldest) {
					oldest = w.Since
				}
			}
			if now.Sub(oldest) >= window {
				props = l.planner.Batch(idx, waiting, av, s.MaxPickupMeters, now)
			} else {
				due(oldest.Add(window))
			}
		}
	}

	offered := map[string]bool{}
	since := map[string]time.Time{}
	for _, w := range waiting {
		since[w.ID] = w.Since
	}
	if len(props) > 0 {
		var headers map[string]string
		if l.e.cfg.Direct != nil && l.e.cfg.Replica != "" {
			headers = map[string]string{jobtopic.DirectHeader: l.e.cfg.Replica}
		}
		done, err := offers(ctx, l.e.db, l.tenant, props, s.Strategy, kind, s.OfferTimeout, l.e.now, headers)
		if err != nil {
			return next, err
		}
		for _, m := range done {
			l.publishDirect(m)
			offered[m.Order] = true
			due(m.ExpiresAt)
			l.e.m.decisions.WithLabelValues(string(s.Strategy), OutcomeOffered).Inc()
			l.e.m.offerLag.Observe(max(l.e.now().Sub(since[m.Order]).Seconds(), 0))
			delete(l.noted, m.Order)
		}
	}

	// Orders left waiting get a decision saying why, at most once a minute each.
	var notes []Decision
	for _, w := range waiting {
		if offered[w.ID] || (s.Strategy == StrategyBatch && len(props) == 0) {
			continue
		}
		if t, ok := l.noted[w.ID]; ok && now.Sub(t) < noCandidateRecordEvery {
			continue
		}
		notes = append(notes, Decision{OrderID: w.ID, Strategy: string(s.Strategy), Outcome: OutcomeNoCandidate, Actor: "dispatch",
			Reason: fmt.Sprintf("no eligible driver within %.0f m (online, on duty, under capacity, with a fresh location, not locked out of the order)", s.MaxPickupMeters)})
	}
	for _, id := range unplaceable {
		if t, ok := l.noted[id]; ok && now.Sub(t) < noCandidateRecordEvery {
			continue
		}
		notes = append(notes, Decision{OrderID: id, Strategy: string(s.Strategy), Outcome: OutcomeNoPickup, Actor: "dispatch",
			Reason: "the order has no pickup coordinates (neither in its payload nor its store's --pickup): assign it by hand"})
	}
	if len(notes) > 0 {
		err := l.e.db.WithTenantTx(ctx, l.tenant, func(tx pgx.Tx) error {
			for _, d := range notes {
				if err := recordDecision(ctx, tx, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return next, err
		}
		for _, d := range notes {
			l.noted[d.OrderID] = now
			l.e.m.decisions.WithLabelValues(string(s.Strategy), d.Outcome).Inc()
		}
	}
	for id, t := range l.noted { // forget orders not waiting any more
		if now.Sub(t) > 2*noCandidateRecordEvery {
			delete(l.noted, id)
		}
	}
	return next, nil
}

// publishDirect publishes a committed offer to its driver's jobs topic in this process's broker,
// with the time it has left as MQTT 5 expiry: the message the bridge would publish, without the
// trip through the outbox relay, EVENTS and the bridge. A failure is only logged: the offer is
// committed, the app resyncs its jobs, and the offer expires and moves on if nobody answers.
func (l *tenantLoop) publishDirect(m made) {
	if l.e.cfg.Direct == nil || l.e.cfg.Replica == "" {
		return
	}
	driver, payload, expires, err := jobtopic.Message(&m.Event)
	if err == nil && driver != "" {
		err = l.e.cfg.Direct.PublishExpiring("tenants/"+l.tenant+"/drivers/"+driver+"/jobs", payload, 1, expires.Sub(l.e.now()))
	}
	if err != nil {
		l.e.log.Warn().Err(err).Str("tenant", l.tenant).Str("order", m.Order).Msg("dispatch: direct offer publish failed")
	}
}

// silent reports whether driver has sent no fix for SilentAfter. Right after the engine
// starts nobody is silent: the index fills from live fixes within seconds.
func (l *tenantLoop) silent(idx *geo.Index, driver string, now time.Time) bool {
	if now.Sub(l.e.started) < l.e.cfg.SilentAfter {
		return false
	}
	fix, ok := idx.Position(driver)
	return !ok || now.Sub(time.UnixMilli(fix.At)) > l.e.cfg.SilentAfter
}

// refresh re-reads the tenant's drivers (capacity, duty) when they are older than
// TenantRefresh. Offers and accepts check both again under lock.
func (l *tenantLoop) refresh(ctx context.Context) error {
	now := l.e.now()
	if !l.driversAt.IsZero() && now.Sub(l.driversAt) < l.e.cfg.TenantRefresh {
		return nil
	}
	drivers := map[string]driverInfo{}
	err := l.e.db.WithTenantTx(ctx, l.tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, capacity, on_duty FROM drivers`)
		if err != nil {
			return fmt.Errorf("drivers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var d driverInfo
			if err := rows.Scan(&id, &d.capacity, &d.onDuty); err != nil {
				return err
			}
			drivers[id] = d
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	l.drivers, l.driversAt = drivers, now
	return nil
}

// useSettings applies the tenant's own settings (read with every round, so a change applies at
// the next round) over the engine's defaults.
func (l *tenantLoop) useSettings(raw []byte) {
	own, err := DecodeSettings(raw)
	if err != nil {
		l.e.log.Warn().Err(err).Str("tenant", l.tenant).Msg("dispatch: tenant settings invalid: using the defaults")
		own = Settings{}
	}
	l.settings = own.WithDefaults(l.e.cfg.Settings)
}

// waitingLimit is how many waiting orders a round reads for free drivers: a few per free
// driver (batch weighs more orders than drivers), at most maxWaitingPerRound.
func waitingLimit(free int) int { return min(maxWaitingPerRound, 8*free+16) }

// load reads the open assignments, the tenant's settings and up to waitLimit waiting orders
// with their lockouts in one round trip (one implicit read transaction, so one snapshot).
func (l *tenantLoop) load(ctx context.Context, waitLimit int) (snapshot, error) {
	snap := snapshot{lockouts: map[string]map[string]bool{}}
	err := l.e.db.TenantBatch(ctx, l.tenant, func(b *pgx.Batch) {
		// The order's status by its key, row by row: a join let the planner hash the whole
		// orders table (2.4 ms a round at 6,000 orders) for the few dozen open assignments.
		b.Queue(`SELECT a.id::text, a.order_id::text, a.driver_id, a.status,
				(SELECT o.status FROM orders o WHERE o.id = a.order_id), a.expires_at
			FROM assignments a WHERE a.status IN ('offered', 'accepted')`)
		b.Queue(`SELECT settings->'dispatch' FROM tenants WHERE id = $1`, l.tenant)
		queueWaiting(b, waitLimit)
	}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("open assignments: %w", err)
		}
		for rows.Next() {
			var a openAssignment
			if err := rows.Scan(&a.ID, &a.Order, &a.Driver, &a.Status, &a.OrderStatus, &a.ExpiresAt); err != nil {
				rows.Close()
				return err
			}
			snap.open = append(snap.open, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var raw []byte
		if err := br.QueryRow().Scan(&raw); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
		l.useSettings(raw)
		return readWaiting(br, &snap)
	})
	return snap, err
}

// loadWaiting reads up to limit waiting orders, oldest first, and their lockouts, in one round
// trip.
func (l *tenantLoop) loadWaiting(ctx context.Context, snap *snapshot, limit int) error {
	return l.e.db.TenantBatch(ctx, l.tenant, func(b *pgx.Batch) { queueWaiting(b, limit) },
		func(br pgx.BatchResults) error { return readWaiting(br, snap) })
}

// queueWaiting queues the read of up to limit waiting orders, oldest first, and their lockouts.
func queueWaiting(b *pgx.Batch, limit int) {
	// orders.id, not the output column id (its text), so that orders_waiting_idx gives the
	// order and nothing is sorted.
	b.Queue(`SELECT id::text, pickup_lat, pickup_lng, updated_at FROM orders WHERE status = 'pending'
		ORDER BY created_at, orders.id LIMIT $1`, limit)
	b.Queue(`SELECT a.order_id::text, a.driver_id FROM assignments a
		JOIN (SELECT id FROM orders WHERE status = 'pending' ORDER BY created_at, id LIMIT $1) o ON o.id = a.order_id
		WHERE a.status IN ('declined', 'expired', 'released')`, limit)
}

// readWaiting reads what queueWaiting queued into snap.
func readWaiting(br pgx.BatchResults, snap *snapshot) error {
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("waiting orders: %w", err)
	}
	for rows.Next() {
		var w waitingRow
		var lat, lng *float64
		if err := rows.Scan(&w.ID, &lat, &lng, &w.Since); err != nil {
			rows.Close()
			return err
		}
		if lat != nil && lng != nil {
			w.Lat, w.Lng, w.hasPickup = *lat, *lng, true
		}
		snap.waiting = append(snap.waiting, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("waiting orders: %w", err)
	}
	if rows, err = br.Query(); err != nil {
		return fmt.Errorf("lockouts: %w", err)
	}
	for rows.Next() {
		var order, driver string
		if err := rows.Scan(&order, &driver); err != nil {
			rows.Close()
			return err
		}
		if snap.lockouts[order] == nil {
			snap.lockouts[order] = map[string]bool{}
		}
		snap.lockouts[order][driver] = true
	}
	rows.Close()
	return rows.Err()
}

// online reads the tenant's online drivers from presence ({prefix}online:{tenant}).
func (l *tenantLoop) online(ctx context.Context) (map[string]bool, error) {
	members, err := l.e.rdb.SMembers(ctx, l.e.cfg.KeyPrefix+"online:"+l.tenant).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[string]bool, len(members))
	for _, m := range members {
		out[m] = true
	}
	return out, nil
}

// availability is Availability for one round.
type availability struct {
	free     map[string]bool
	lockouts map[string]map[string]bool
}

func (a *availability) Free(d string) bool               { return a.free[d] }
func (a *availability) Locked(order, driver string) bool { return a.lockouts[order][driver] }
func (a *availability) FreeCount() int                   { return len(a.free) }

// availability: a driver is free when online, on duty, with a fresh fix, under capacity
// (offered and accepted jobs both count) and without an open offer.
func (l *tenantLoop) availability(snap snapshot, online map[string]bool, idx *geo.Index, now time.Time) *availability {
	load := map[string]int{}
	offered := map[string]bool{}
	for _, a := range snap.open {
		load[a.Driver]++
		if a.Status == "offered" {
			offered[a.Driver] = true
		}
	}
	free := map[string]bool{}
	for d := range online {
		info, known := l.drivers[d]
		if !known {
			info = driverInfo{capacity: 1, onDuty: true} // a driver first seen since the last refresh: the table's defaults
		}
		if !info.onDuty || load[d] >= info.capacity || offered[d] {
			continue
		}
		if fix, ok := idx.Position(d); !ok || now.Sub(time.UnixMilli(fix.At)) > l.e.cfg.SilentAfter {
			continue
		}
		free[d] = true
	}
	return &availability{free: free, lockouts: snap.lockouts}
}

// DecodeSettings reads a tenant's dispatch settings (tenants.settings->'dispatch'): durations
// are strings such as "30s". Empty or null is no override.
func DecodeSettings(raw []byte) (Settings, error) {
	var s Settings
	if len(raw) == 0 || string(raw) == "null" {
		return s, nil
	}
	var w settingsJSON
	if err := json.Unmarshal(raw, &w); err != nil {
		return s, fmt.Errorf("dispatch settings: %w", err)
	}
	s = Settings{Strategy: w.Strategy, MaxPickupMeters: w.MaxPickupMeters, BroadcastFanout: w.BroadcastFanout}
	var err error
	if w.OfferTimeout != "" {
		if s.OfferTimeout, err = time.ParseDuration(w.OfferTimeout); err != nil {
			return Settings{}, fmt.Errorf("offer_timeout: %w", err)
		}
	}
	if w.BatchWindow != "" {
		if s.BatchWindow, err = time.ParseDuration(w.BatchWindow); err != nil {
			return Settings{}, fmt.Errorf("batch_window: %w", err)
		}
	}
	return s, s.Validate("")
}

// settingsJSON is Settings as stored and served.
type settingsJSON struct {
	Strategy        Strategy `json:"strategy,omitempty"`
	OfferTimeout    string   `json:"offer_timeout,omitempty"`
	MaxPickupMeters float64  `json:"max_pickup_distance_m,omitempty"`
	BroadcastFanout int      `json:"broadcast_fanout,omitempty"`
	BatchWindow     string   `json:"batch_window,omitempty"`
}

// MarshalJSON encodes s as settingsJSON (durations as strings).
func (s Settings) MarshalJSON() ([]byte, error) {
	w := settingsJSON{Strategy: s.Strategy, MaxPickupMeters: s.MaxPickupMeters, BroadcastFanout: s.BroadcastFanout}
	if s.OfferTimeout != 0 {
		w.OfferTimeout = s.OfferTimeout.String()
	}
	if s.BatchWindow != 0 {
		w.BatchWindow = s.BatchWindow.String()
	}
	return json.Marshal(w)
}
