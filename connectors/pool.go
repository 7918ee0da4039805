package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
)

// PoolDurable is the durable consumer of a platform's pool on OUTBOUND.
func PoolDurable(platform string) string { return "outbound-" + platform }

// maxDeferred bounds the jobs of one platform that may wait on OUTBOUND for their redelivery
// (after a failure or while a breaker is open) without holding back the platform's others.
const maxDeferred = 50000

// laneDepth is how many jobs wait for each worker: enough that one slow store's lane does not
// hold back the reader (and with it the platform's other stores) before its breaker opens.
const laneDepth = 8

// runPool consumes outbound.{platform}.> with cfg.Workers workers until ctx ends. A job goes
// to the worker its order hashes to, so one order's statuses are pushed one at a time.
func (s *Service) runPool(ctx context.Context, platform string) {
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		var err error
		cons, err = s.js.CreateOrUpdateConsumer(ctx, bus.StreamOutbound, jetstream.ConsumerConfig{
			Durable:       PoolDurable(platform),
			Description:   "connector pool for " + platform,
			FilterSubject: "outbound." + platform + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.AckWait,
			MaxDeliver:    -1, // the pool decides when a job is dead
			MaxAckPending: maxDeferred,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err == nil {
			break
		}
		s.log.Warn().Err(err).Str("platform", platform).Msg("connectors: cannot create the pool's consumer; retrying")
		sleep(ctx, time.Second)
	}
	if ctx.Err() != nil {
		return
	}
	s.log.Info().Str("platform", platform).Int("workers", s.cfg.Workers).Msg("connectors: pool running")
	lanes := make([]chan jetstream.Msg, s.cfg.Workers)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan jetstream.Msg, laneDepth)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range lanes[i] {
				s.handle(ctx, platform, msg)
			}
		}()
	}
	s.read(ctx, platform, cons, lanes)
	for _, l := range lanes {
		close(l)
	}
	wg.Wait()
}

// read pulls the platform's jobs and hands each to its order's lane until ctx ends.
func (s *Service) read(ctx context.Context, platform string, cons jetstream.Consumer, lanes []chan jetstream.Msg) {
	bus.Pull(ctx, cons, laneDepth*len(lanes), s.log.With().Str("platform", platform).Logger(), "connectors",
		bus.Hand(ctx, func(msg jetstream.Msg) chan<- jetstream.Msg { return lanes[laneOf(msg.Data(), "order_id", len(lanes))] }))
}

// laneOf picks the lane of a message by the order it is about (path in its JSON).
func laneOf(data []byte, path string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(gjson.GetBytes(data, path).Str))
	return int(h.Sum32() % uint32(n))
}

// handle pushes one job: once, in its order, through its store's breaker; it is acknowledged
// when done or dead, and given back with a delay otherwise.
func (s *Service) handle(ctx context.Context, platform string, msg jetstream.Msg) {
	if ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	var j Job
	if err := json.Unmarshal(msg.Data(), &j); err != nil {
		s.poison(ctx, platform, msg, fmt.Errorf("%w: %v", ErrInvalidJob, err))
		return
	}
	if err := j.Validate(); err != nil {
		s.poison(ctx, platform, msg, err)
		return
	}
	if j.Platform != platform {
		s.poison(ctx, platform, msg, fmt.Errorf("%w: platform %q on the %s subject", ErrInvalidJob, j.Platform, platform))
		return
	}
	b := s.breakers.get(breakerKey{Platform: platform, Tenant: j.Tenant, Store: j.StoreID})
	if wait := b.cb.RemainingDelay(); wait > 0 && b.cb.IsOpen() && redelivered(msg) {
		// The store's breaker is open and this job is known to the ledger already (it was
		// registered at its first delivery): it waits again without touching PostgreSQL, so
		// an outage's backlog costs the other platforms nothing while it waits.
		s.postpone(platform, msg, wait)
		return
	}
	replay := msg.Headers().Get(dlq.ReplayOfHeader) != ""
	e, err := track(ctx, s.db, &j, replay)
	if err != nil {
		s.retryLater(ctx, platform, msg, err, time.Second)
		return
	}
	switch {
	case e.State == stateDone:
		s.m.jobs.WithLabelValues(platform, "duplicate").Inc()
		_ = msg.DoubleAck(ctx)
		return
	case e.State == stateDead:
		// a redelivery of a job already dead-lettered: only a replay brings it back
		s.m.jobs.WithLabelValues(platform, "duplicate").Inc()
		_ = msg.DoubleAck(ctx)
		return
	case e.Superseded:
		if _, err := finish(ctx, s.db, &j, outcome{Superseded: true}, false); err != nil {
			s.retryLater(ctx, platform, msg, err, time.Second)
			return
		}
		s.m.jobs.WithLabelValues(platform, "superseded").Inc()
		_ = msg.DoubleAck(ctx)
		return
	}
	if e.Waiting {
		// An earlier status of this order is not on the platform yet: it goes first.
		s.m.jobs.WithLabelValues(platform, "waiting").Inc()
		_ = msg.NakWithDelay(s.cfg.RetryDelay/2 + rand.N(s.cfg.RetryDelay))
		return
	}
	c, err := s.reg.For(platform)
	if err != nil {
		s.giveUp(ctx, platform, msg, &j, e, err, e.Attempts)
		return
	}
	t, err := s.target(ctx, c, &j)
	if err != nil {
		if errors.Is(err, ErrNoEndpoint) || errors.Is(err, ErrNoCredential) || errors.Is(err, store.ErrNotFound) {
			s.giveUp(ctx, platform, msg, &j, e, err, e.Attempts)
			return
		}
		s.retryLater(ctx, platform, msg, err, time.Second)
		return
	}
	if !b.cb.TryAcquirePermit() {
		// The platform is failing for this store: no call, and no attempt counted.
		s.postpone(platform, msg, b.cb.RemainingDelay())
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	start := s.now()
	err = c.Push(callCtx, t, j)
	took := s.now().Sub(start)
	cancel()
	if ctx.Err() != nil {
		// shutting down: the call was cut by us, not failed by the platform
		_ = msg.Nak()
		return
	}
	s.breakers.record(b, err, took)
	s.stats.add(j.Tenant, platform, took, err != nil && Retryable(err), s.now())
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.m.push.WithLabelValues(platform, result).Observe(took.Seconds())
	status := 0
	var pe *PlatformError
	if errors.As(err, &pe) {
		status = pe.Status
	}
	if err == nil {
		if _, ferr := finish(ctx, s.db, &j, outcome{Status: status}, true); ferr != nil {
			// pushed but not recorded: the redelivery pushes again, which the connector makes
			// harmless (idempotency key or read before write)
			s.retryLater(ctx, platform, msg, ferr, time.Second)
			return
		}
		s.m.jobs.WithLabelValues(platform, "pushed").Inc()
		s.m.lag.WithLabelValues(platform).Observe(max(s.now().Sub(j.OccurredAt).Seconds(), 0))
		_ = msg.DoubleAck(ctx)
		return
	}
	attempts := e.Attempts + 1
	if !Retryable(err) || attempts >= s.cfg.Attempts {
		s.giveUp(ctx, platform, msg, &j, e, err, attempts)
		return
	}
	if _, ferr := finish(ctx, s.db, &j, outcome{Err: err, Status: status}, true); ferr != nil {
		s.log.Warn().Err(ferr).Str("job", j.ID).Msg("connectors: attempt not recorded")
	}
	outcomeName := "retried"
	if pe != nil && pe.Throttled {
		outcomeName = "throttled"
	}
	s.m.jobs.WithLabelValues(platform, outcomeName).Inc()
	wait := Backoff(attempts, s.cfg.RetryDelay, s.cfg.RetryDelayMax)
	if pe != nil && pe.RetryAfter > wait {
		wait = pe.RetryAfter
	}
	s.log.Debug().Err(err).Str("platform", platform).Str("job", j.ID).Int("attempt", attempts).Dur("wait", wait).Msg("connectors: push failed; retrying")
	_ = msg.NakWithDelay(wait)
}

// postpone gives back a job of a store whose breaker is open: it waits out the breaker's delay,
// spread over as long again so that the probes after it are few.
func (s *Service) postpone(platform string, msg jetstream.Msg, wait time.Duration) {
	s.m.jobs.WithLabelValues(platform, "breaker_open").Inc()
	_ = msg.NakWithDelay(wait + rand.N(max(wait, time.Second)))
}

// redelivered reports whether msg was delivered before (and so registered in the ledger).
func redelivered(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	return err == nil && md.NumDelivered > 1
}

// Backoff is the wait before attempt n+1: a uniformly random duration up to
// min(max, base·2^(n-1)) — exponential backoff with full jitter.
func Backoff(n int, base, ceiling time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	if d <= 0 {
		return 0
	}
	return rand.N(d) + 1
}

// retryLater gives msg back after wait when the hub itself failed (PostgreSQL, a lookup).
func (s *Service) retryLater(ctx context.Context, platform string, msg jetstream.Msg, err error, wait time.Duration) {
	if ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	s.log.Warn().Err(err).Str("platform", platform).Str("subject", msg.Subject()).Msg("connectors: job not handled; retrying")
	_ = msg.NakWithDelay(wait)
}

// giveUp records j as dead, with its dead letter, in one transaction, and acknowledges it.
func (s *Service) giveUp(ctx context.Context, platform string, msg jetstream.Msg, j *Job, e entry, cause error, attempts int) {
	d := dlq.DeadLetter{
		Source: dlq.SourceOutbound, Platform: platform, Subject: msg.Subject(), MessageID: j.ID,
		Payload: msg.Data(), Headers: headersOf(msg), Error: cause.Error(), Attempts: attempts,
		FirstFailedAt: e.FirstAt.UTC(), LastFailedAt: s.now().UTC(),
	}
	var pe *PlatformError
	status := 0
	if errors.As(cause, &pe) {
		d.LastStatus, d.ResponseExcerpt, status = pe.Status, pe.Excerpt, pe.Status
	}
	_, err := finish(ctx, s.db, j, outcome{Err: cause, Status: status, Dead: true, deadLetter: func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, d)
	}}, attempts > e.Attempts)
	if err != nil {
		s.retryLater(ctx, platform, msg, err, 5*time.Second)
		return
	}
	s.m.jobs.WithLabelValues(platform, "dead_lettered").Inc()
	s.log.Error().Err(cause).Str("platform", platform).Str("tenant", j.Tenant).Str("job", j.ID).Int("attempts", attempts).
		Msg("connectors: job moved to dead letters")
	_ = msg.DoubleAck(ctx)
}

// poison dead-letters a message that is no job at all.
func (s *Service) poison(ctx context.Context, platform string, msg jetstream.Msg, cause error) {
	parts := strings.Split(msg.Subject(), ".")
	tenant := parts[len(parts)-1]
	now := s.now().UTC()
	id := msg.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		if md, err := msg.Metadata(); err == nil {
			id = fmt.Sprintf("outbound-seq-%d", md.Sequence.Stream)
		}
	}
	err := s.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, dlq.DeadLetter{
			Source: dlq.SourceOutbound, Platform: platform, Subject: msg.Subject(), MessageID: id,
			Payload: msg.Data(), Headers: headersOf(msg), Error: cause.Error(), FirstFailedAt: now, LastFailedAt: now,
		})
	})
	if err != nil {
		s.log.Error().Err(err).AnErr("cause", cause).Str("subject", msg.Subject()).Msg("connectors: invalid job not recorded; terminated")
		_ = msg.TermWithReason(cause.Error())
		return
	}
	s.m.jobs.WithLabelValues(platform, "dead_lettered").Inc()
	_ = msg.DoubleAck(ctx)
}

func headersOf(msg jetstream.Msg) map[string]string {
	out := map[string]string{}
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}
