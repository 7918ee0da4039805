package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/pilotx/dispatchhub/internal/metrics"
)

// limiter applies the per-tenant and per-store webhook rates with GCRA in Redis, shared by
// every replica. While Redis cannot answer, a limiter local to this replica takes over (same
// rates, so a fleet of N replicas may admit up to N times the rate); that is logged and counted.
type limiter struct {
	batcher      *redisBatcher
	redis        *redis_rate.Limiter
	prefix       string
	tenant       redis_rate.Limit
	store        redis_rate.Limit
	log          zerolog.Logger
	mu           sync.Mutex
	local        map[string]*rate.Limiter
	lastFallback time.Time
	fallbacks    prometheus.Counter
}

func newLimiter(rdb redis.UniversalClient, prefix string, tenantRate, tenantBurst, storeRate, storeBurst int, log zerolog.Logger, reg prometheus.Registerer) *limiter {
	b := newRedisBatcher(rdb, 4096, 256)
	l := &limiter{
		batcher: b,
		redis:   redis_rate.NewLimiter(b),
		prefix:  prefix + "rate:",
		tenant:  redis_rate.Limit{Rate: tenantRate, Burst: tenantBurst, Period: time.Second},
		store:   redis_rate.Limit{Rate: storeRate, Burst: storeBurst, Period: time.Second},
		log:     log,
		local:   make(map[string]*rate.Limiter),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "rate_limit_local_fallback_total",
			Help: "Rate-limit decisions taken by the local limiter because Redis did not answer.",
		}),
	}
	reg.MustRegister(l.fallbacks)
	return l
}

// allow takes one webhook from the tenant's and the store's budgets. When refused it says how
// long to wait.
func (l *limiter) allow(ctx context.Context, tenant, storeID string) (bool, time.Duration) {
	for _, c := range [2]struct {
		key   string
		limit redis_rate.Limit
	}{{"t:" + tenant, l.tenant}, {"s:" + storeID, l.store}} {
		ok, wait := l.take(ctx, c.key, c.limit)
		if !ok {
			return false, wait
		}
	}
	return true, 0
}

func (l *limiter) take(ctx context.Context, key string, lim redis_rate.Limit) (bool, time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	res, err := l.redis.Allow(rctx, l.prefix+key, lim)
	cancel()
	if err == nil {
		return res.Allowed > 0, res.RetryAfter
	}
	l.fallbacks.Inc()
	l.mu.Lock()
	if time.Since(l.lastFallback) > 10*time.Second {
		l.lastFallback = time.Now()
		l.log.Warn().Err(err).Msg("rate limiting falls back to the local limiter: Redis did not answer")
	}
	rl := l.local[key]
	if rl == nil {
		rl = rate.NewLimiter(rate.Limit(float64(lim.Rate)/lim.Period.Seconds()), lim.Burst)
		l.local[key] = rl
	}
	l.mu.Unlock()
	r := rl.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}
