package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Health events, on EVENTS and on tenants/{t}/events/..., with the health as payload; the
// bridge also keeps the latest one retained on tenants/{t}/connectors/{platform}.
const (
	EventDegraded  = "ConnectorDegraded"
	EventRecovered = "ConnectorRecovered"
	// AggregateConnector is the aggregate type of health events; the aggregate id is the platform.
	AggregateConnector = "connector"
)

// Health states.
const (
	StateHealthy  = "healthy"
	StateDegraded = "degraded"
)

// Status is a tenant's sync with one platform: the payload of the health events and of the
// retained connectors topic, and one row of GET /v1/connectors.
type Status struct {
	Tenant          string         `json:"tenant"`
	Platform        string         `json:"platform"`
	State           string         `json:"state"` // healthy, degraded
	DelayedSince    *time.Time     `json:"delayed_since,omitempty"`
	Reason          string         `json:"reason,omitempty"`
	Message         string         `json:"message,omitempty"` // the banner: "Shopify sync delayed since ..."
	Pending         int            `json:"pending"`
	QueueLagSeconds float64        `json:"queue_lag_seconds"` // age of the oldest pending job
	Breaker         string         `json:"breaker"`           // the worst of its stores' breakers: open, half-open, closed
	BreakersOpen    int            `json:"breakers_open"`
	Breakers        []BreakerState `json:"breakers,omitempty"`
	Window
	Flag       *FlagSetting `json:"flag,omitempty"`
	DeadLetter int          `json:"dead_letters"` // not replayed yet
	UpdatedAt  time.Time    `json:"updated_at"`
}

// Banner is the line a dispatcher's console shows while a platform's sync is delayed.
func Banner(platform string, since time.Time) string {
	name := platform
	if platform != "" {
		name = strings.ToUpper(platform[:1]) + platform[1:]
	}
	if n, ok := displayNames[platform]; ok {
		name = n
	}
	return name + " sync delayed since " + since.UTC().Format(time.RFC3339)
}

var displayNames = map[string]string{"woocommerce": "WooCommerce", "bigcommerce": "BigCommerce"}

// caughtUp is how old the oldest pending job of a degraded platform may be for it to count as
// recovered: the backlog of the outage is pushed, what waits is the normal traffic.
const caughtUp = 5 * time.Second

// watchHealth evaluates every tenant's platforms each HealthInterval until ctx ends.
func (s *Service) watchHealth(ctx context.Context) error {
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		if err := s.evaluate(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("connectors: health not evaluated")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// evaluate decides, for every (tenant, platform) with a backlog, an open breaker or a
// degraded state on record, whether it is degraded now, and records the changes. Degraded:
// a breaker of one of its stores is open (and not yet due for a probe), or a job has waited
// longer than DelayedAfter. Healthy again when no breaker is open and nothing pending is older
// than caughtUp.
func (s *Service) evaluate(ctx context.Context) error {
	now := s.now()
	bl, err := backlogs(ctx, s.db)
	if err != nil {
		return err
	}
	recorded, err := degradedOnRecord(ctx, s.db)
	if err != nil {
		return err
	}
	type view struct {
		backlog  Backlog
		openedAt time.Time
		open     int
	}
	views := map[[2]string]*view{}
	at := func(tenant, platform string) *view {
		k := [2]string{tenant, platform}
		v := views[k]
		if v == nil {
			v = &view{backlog: Backlog{Tenant: tenant, Platform: platform}}
			views[k] = v
		}
		return v
	}
	pending := map[string]float64{}
	oldest := map[string]float64{}
	for _, b := range bl {
		at(b.Tenant, b.Platform).backlog = b
		pending[b.Platform] += float64(b.Pending)
		oldest[b.Platform] = max(oldest[b.Platform], now.Sub(b.Oldest).Seconds())
	}
	open := map[string]float64{}
	for _, b := range s.breakers.states("") {
		if b.State == "closed" {
			continue
		}
		open[b.Platform]++
		if b.State == "open" && b.Retry.After(now) {
			v := at(b.Tenant, b.Platform)
			v.open++
			if v.openedAt.IsZero() || b.OpenedAt.Before(v.openedAt) {
				v.openedAt = b.OpenedAt
			}
		}
	}
	for k := range recorded {
		at(k[0], k[1])
	}
	degradedPer := map[string]float64{}
	for k, v := range views {
		_, wasDegraded := recorded[k]
		// Degraded once a job waits longer than DelayedAfter; healthy again only when the
		// backlog is caught up (nothing older than caughtUp), not as soon as the breaker closes.
		limit := s.cfg.DelayedAfter
		if wasDegraded {
			limit = min(limit, caughtUp)
		}
		late := v.backlog.Pending > 0 && now.Sub(v.backlog.Oldest) > limit
		degraded := v.open > 0 || late
		if degraded {
			degradedPer[k[1]]++
		}
		if degraded == wasDegraded {
			continue
		}
		st := Status{Tenant: k[0], Platform: k[1], Pending: v.backlog.Pending, BreakersOpen: v.open, UpdatedAt: now.UTC()}
		if v.backlog.Pending > 0 {
			st.QueueLagSeconds = now.Sub(v.backlog.Oldest).Seconds()
		}
		if degraded {
			since := v.openedAt
			if v.backlog.Pending > 0 && (since.IsZero() || v.backlog.Oldest.Before(since)) {
				since = v.backlog.Oldest
			}
			since = since.UTC()
			st.State, st.DelayedSince, st.Message = StateDegraded, &since, Banner(k[1], since)
			switch {
			case v.open > 0 && late:
				st.Reason = fmt.Sprintf("%d store breaker(s) open; oldest job waiting %s", v.open, now.Sub(v.backlog.Oldest).Round(time.Second))
			case v.open > 0:
				st.Reason = fmt.Sprintf("%d store breaker(s) open", v.open)
			default:
				st.Reason = fmt.Sprintf("oldest job waiting %s", now.Sub(v.backlog.Oldest).Round(time.Second))
			}
		} else {
			st.State = StateHealthy
		}
		if err := s.record(ctx, st); err != nil {
			return err
		}
	}
	for _, p := range s.knownPlatforms(pending, open) {
		s.m.pending.WithLabelValues(p).Set(pending[p])
		s.m.oldest.WithLabelValues(p).Set(oldest[p])
		s.m.breakersOpen.WithLabelValues(p).Set(open[p])
		s.m.degraded.WithLabelValues(p).Set(degradedPer[p])
	}
	return nil
}

// knownPlatforms lists the platforms whose gauges are kept: pools and anything seen now.
func (s *Service) knownPlatforms(seen ...map[string]float64) []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.pools))
	for p := range s.pools {
		out = append(out, p)
	}
	s.mu.Unlock()
	for _, m := range seen {
		for p := range m {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// degradedOnRecord lists the (tenant, platform) recorded degraded.
func degradedOnRecord(ctx context.Context, db *store.DB) (map[[2]string]time.Time, error) {
	out := map[[2]string]time.Time{}
	err := db.WithSystemTx(ctx, "connector-health", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, platform, delayed_since FROM connector_health WHERE state = 'degraded'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t, p string
			var since *time.Time
			if err := rows.Scan(&t, &p, &since); err != nil {
				return err
			}
			var at time.Time
			if since != nil {
				at = *since
			}
			out[[2]string{t, p}] = at
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read connector health: %w", err)
	}
	return out, nil
}

// record writes a change of state with its event, once: a replica that finds the state
// already changed (by another replica) writes nothing.
func (s *Service) record(ctx context.Context, st Status) error {
	changed := false
	err := s.db.WithTenantTx(ctx, st.Tenant, func(tx pgx.Tx) error {
		var version int64
		var err error
		if st.State == StateDegraded {
			err = tx.QueryRow(ctx, `INSERT INTO connector_health (platform, state, delayed_since, reason) VALUES ($1, 'degraded', $2, $3)
				ON CONFLICT (tenant_id, platform) DO UPDATE SET state = 'degraded', delayed_since = $2, reason = $3,
					version = connector_health.version + 1, updated_at = now()
				WHERE connector_health.state <> 'degraded'
				RETURNING version`, st.Platform, st.DelayedSince, st.Reason).Scan(&version)
		} else {
			err = tx.QueryRow(ctx, `UPDATE connector_health SET state = 'healthy', delayed_since = NULL, reason = '',
					version = version + 1, updated_at = now()
				WHERE platform = $1 AND state = 'degraded' RETURNING version`, st.Platform).Scan(&version)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		changed = true
		payload, err := json.Marshal(st)
		if err != nil {
			return err
		}
		typ := EventRecovered
		if st.State == StateDegraded {
			typ = EventDegraded
		}
		_, err = outbox.Enqueue(ctx, tx, outbox.Event{Type: typ, AggregateType: AggregateConnector, AggregateID: st.Platform,
			Version: version, Payload: payload})
		return err
	})
	if err != nil {
		return fmt.Errorf("record %s health of %s: %w", st.Platform, st.Tenant, err)
	}
	if changed {
		ev := s.log.Info()
		if st.State == StateDegraded {
			ev = s.log.Warn()
		}
		ev.Str("tenant", st.Tenant).Str("platform", st.Platform).Str("state", st.State).Str("reason", st.Reason).
			Msg("connectors: sync " + st.State)
	}
	return nil
}

// Health reports the tenant's sync with every platform it has stores on (or jobs, or a
// recorded state): state and delay, backlog, breakers, recent error rate and p95, flag and
// dead letters not replayed. The breakers and the window are this replica's.
func (s *Service) Health(ctx context.Context, tenant string) ([]Status, error) {
	now := s.now()
	rows := map[string]*Status{}
	get := func(p string) *Status {
		st := rows[p]
		if st == nil {
			st = &Status{Tenant: tenant, Platform: p, State: StateHealthy, Breaker: "closed", UpdatedAt: now.UTC()}
			rows[p] = st
		}
		return st
	}
	err := s.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT DISTINCT platform FROM stores WHERE enabled`)
		b.Queue(`SELECT platform, count(*), min(occurred_at) FROM connector_jobs WHERE state = 'pending' GROUP BY platform`)
		b.Queue(`SELECT platform, state, delayed_since, reason, updated_at FROM connector_health`)
		b.Queue(`SELECT platform, count(*) FROM dead_letters WHERE source = 'outbound' AND replayed_at IS NULL GROUP BY platform`)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		r, err := br.Query()
		if err != nil {
			return err
		}
		platforms, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, p := range platforms {
			get(p)
		}
		if r, err = br.Query(); err != nil {
			return err
		}
		for r.Next() {
			var p string
			var n int
			var oldest time.Time
			if err := r.Scan(&p, &n, &oldest); err != nil {
				r.Close()
				return err
			}
			st := get(p)
			st.Pending, st.QueueLagSeconds = n, max(now.Sub(oldest).Seconds(), 0)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if r, err = br.Query(); err != nil {
			return err
		}
		for r.Next() {
			var p, state, reason string
			var since *time.Time
			var at time.Time
			if err := r.Scan(&p, &state, &since, &reason, &at); err != nil {
				r.Close()
				return err
			}
			st := get(p)
			st.State, st.Reason, st.UpdatedAt = state, reason, at.UTC()
			if since != nil && state == StateDegraded {
				t := since.UTC()
				st.DelayedSince, st.Message = &t, Banner(p, t)
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if r, err = br.Query(); err != nil {
			return err
		}
		for r.Next() {
			var p string
			var n int
			if err := r.Scan(&p, &n); err != nil {
				r.Close()
				return err
			}
			get(p).DeadLetter = n
		}
		r.Close()
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("connector health of %s: %w", tenant, err)
	}
	for _, b := range s.breakers.states(tenant) {
		st := get(b.Platform)
		st.Breakers = append(st.Breakers, b)
		if b.State != "closed" {
			st.BreakersOpen++
		}
		if worse(b.State, st.Breaker) {
			st.Breaker = b.State
		}
	}
	platforms := make([]string, 0, len(rows))
	for p := range rows {
		platforms = append(platforms, p)
	}
	slices.Sort(platforms)
	flags, err := s.flags.List(ctx, tenant, platforms)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(rows))
	for _, p := range platforms {
		st := rows[p]
		st.Window = s.stats.window(tenant, p, now)
		for i := range flags {
			if flags[i].Platform == p {
				st.Flag = &flags[i]
			}
		}
		out = append(out, *st)
	}
	return out, nil
}

func worse(a, b string) bool {
	rank := map[string]int{"closed": 0, "half-open": 1, "open": 2}
	return rank[a] > rank[b]
}
