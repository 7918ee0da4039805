package dispatch

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Replies applies drivers' replies off the broker's goroutines: the MQTT hook validates a
// reply and Submits it; workers apply it (ApplyReply), retrying a failing database, and wake
// the tenant's dispatcher. A reply is acknowledged to the app (PUBACK) once queued; one lost
// in a crash before its commit is re-sent by the app, which repeats a reply until it sees the
// job event that answers it (replies are idempotent).
type Replies struct {
	db     *store.DB
	queues []chan queuedReply // one per worker; a driver's replies all go to one, in order
	wake   func(tenant string)
	log    zerolog.Logger
	now    func() time.Time

	outcomes *prometheus.CounterVec
	lag      prometheus.Histogram
	workers  int
}

type queuedReply struct {
	tenant, driver string
	reply          Reply
	received       time.Time
}

// NewReplies builds the reply workers; wake (may be nil) is called with the tenant after each
// applied reply.
func NewReplies(db *store.DB, wake func(tenant string), log zerolog.Logger, reg prometheus.Registerer) *Replies {
	r := &Replies{
		db: db, wake: wake, now: time.Now, workers: defaultReplyWorkers,
		log: log.With().Str("component", "replies").Logger(),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "replies_total",
			Help: "Driver replies, by outcome (applied, rejected, dropped: queue full, failed: database down after retries).",
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "reply_apply_seconds",
			Help: "Time from a reply's arrival to its commit.", Buckets: metrics.LatencyBuckets,
		}),
	}
	for range r.workers {
		r.queues = append(r.queues, make(chan queuedReply, defaultReplyQueue/r.workers))
	}
	if reg != nil {
		reg.MustRegister(r.outcomes, r.lag)
	}
	return r
}

// Submit queues a reply of driver of tenant. A driver's replies are applied one at a time in
// the order they came (picked_up before delivered). It never blocks: false when the queue is
// full (counted; the app re-sends).
func (r *Replies) Submit(tenant, driver string, reply Reply) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(driver))
	select {
	case r.queues[h.Sum32()%uint32(len(r.queues))] <- queuedReply{tenant: tenant, driver: driver, reply: reply, received: r.now()}:
		return true
	default:
		r.outcomes.WithLabelValues("dropped").Inc()
		return false
	}
}

// Run applies queued replies until ctx ends, then applies what is still queued (bounded by
// a few seconds) and returns.
func (r *Replies) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, queue := range r.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case q := <-queue:
					r.apply(ctx, q)
				case <-ctx.Done():
					r.drain(queue)
					return
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// frees reports whether an applied reply of action can open work for the dispatcher: an order
// back to waiting (decline) or a driver with room again (delivered, failed).
func frees(a Action) bool {
	return a == ActionDecline || a == ActionDelivered || a == ActionFailed
}

// drain applies what is queued when the worker stops, within a short deadline.
func (r *Replies) drain(queue chan queuedReply) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case q := <-queue:
			r.apply(ctx, q)
		default:
			return
		}
	}
}

func (r *Replies) apply(ctx context.Context, q queuedReply) {
	delay := defaultReplyRetryInitial
	for attempt := 1; ; attempt++ {
		err := ApplyReply(ctx, r.db, q.tenant, q.driver, q.reply, r.now())
		var rej *Rejection
		switch {
		case err == nil:
			r.outcomes.WithLabelValues("applied").Inc()
		case errors.As(err, &rej):
			r.outcomes.WithLabelValues("rejected").Inc()
			r.log.Info().Str("tenant", q.tenant).Str("driver", q.driver).Str("job", q.reply.JobID).
				Str("action", string(q.reply.Action)).Str("code", rej.Code).Msg("reply rejected")
		case attempt < defaultReplyAttempts && ctx.Err() == nil:
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			delay *= 4
			continue
		default:
			r.outcomes.WithLabelValues("failed").Inc()
			r.log.Error().Err(err).Str("tenant", q.tenant).Str("driver", q.driver).Str("job", q.reply.JobID).
				Msg("reply not applied: the app re-sends it")
			return
		}
		r.lag.Observe(r.now().Sub(q.received).Seconds())
		if r.wake != nil && err == nil && frees(q.reply.Action) {
			r.wake(q.tenant)
		}
		return
	}
}
