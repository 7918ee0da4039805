package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/testenv"
)

// countingHook counts the round trips the client makes: single commands and pipelines.
type countingHook struct {
	mu         sync.Mutex
	singles    int
	pipelines  int
	pipedCalls int
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.singles++
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.pipelines++
		h.pipedCalls += len(cmds)
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func TestRedisBatcherSharesRoundTripsAndKeepsGCRAExact(t *testing.T) {
	shared, prefix := testenv.Redis(t)
	rdb := redis.NewClient(shared.Options())
	t.Cleanup(func() { _ = rdb.Close() })
	hook := &countingHook{}
	rdb.AddHook(hook)

	b := newRedisBatcher(rdb, 1024, 64)
	lim := redis_rate.NewLimiter(b)
	limit := redis_rate.Limit{Rate: 1, Burst: 150, Period: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.run(ctx) }()
	require.Eventually(t, b.running.Load, time.Second, time.Millisecond)

	// Load the script once, so that every call below is an EVALSHA.
	_, err := lim.Allow(context.Background(), prefix+"warm", limit)
	require.NoError(t, err)
	hook.mu.Lock()
	hook.singles, hook.pipelines, hook.pipedCalls = 0, 0, 0
	hook.mu.Unlock()

	const calls = 400
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	start := make(chan struct{})
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := lim.Allow(context.Background(), prefix+"k"+fmt.Sprint(i%2), limit)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			allowed += res.Allowed
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 2*limit.Burst, allowed, "each of the two keys admits exactly its burst")
	hook.mu.Lock()
	assert.Zero(t, hook.singles, "no call went around the batcher")
	assert.Equal(t, calls, hook.pipedCalls)
	assert.Less(t, hook.pipelines, calls, "concurrent calls shared pipelines")
	t.Logf("%d calls in %d pipelines", calls, hook.pipelines)
	hook.mu.Unlock()

	cancel()
	require.NoError(t, <-done)
	assert.False(t, b.running.Load())
	res, err := lim.Allow(context.Background(), prefix+"after", limit)
	require.NoError(t, err, "after run ends, calls go straight to Redis")
	assert.Equal(t, 1, res.Allowed)
}

func TestRedisBatcherDeadRedisAnswersWithinTheCallersDeadline(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	b := newRedisBatcher(rdb, 16, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.run(ctx) }()
	require.Eventually(t, b.running.Load, time.Second, time.Millisecond)

	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer ccancel()
	_, err := redis_rate.NewLimiter(b).Allow(cctx, "k", redis_rate.PerSecond(10))
	require.Error(t, err)
	cancel()
	require.NoError(t, <-done)
}
