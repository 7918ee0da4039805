package ingest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisBatcher gives redis_rate a Redis client whose script calls (EVALSHA) made concurrently
// by many requests leave in one pipeline: one write and one read on the socket for the lot,
// instead of one each per call. It is group commit for rate limiting: under load the cost of
// the round trip is shared, and a lone call waits for nothing. The other calls redis_rate
// makes (loading the script, EVAL on NOSCRIPT) go straight to the client.
type redisBatcher struct {
	rdb     redis.UniversalClient
	q       chan *batchedEval
	max     int
	running atomic.Bool
}

type batchedEval struct {
	ctx  context.Context
	sha  string
	keys []string
	args []any
	cmd  *redis.Cmd
	done chan struct{}
}

// redisBatchTimeout bounds one pipeline; callers of the limiter wait 50 ms at most.
const redisBatchTimeout = 250 * time.Millisecond

func newRedisBatcher(rdb redis.UniversalClient, queue, max int) *redisBatcher {
	return &redisBatcher{rdb: rdb, q: make(chan *batchedEval, queue), max: max}
}

// EvalSha queues the call for the next pipeline and waits for its answer. Before run starts,
// after it ends, and when the queue is full, it calls Redis directly.
func (b *redisBatcher) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if !b.running.Load() {
		return b.rdb.EvalSha(ctx, sha, keys, args...)
	}
	e := &batchedEval{ctx: ctx, sha: sha, keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.q <- e:
	default:
		return b.rdb.EvalSha(ctx, sha, keys, args...)
	}
	select {
	case <-e.done:
		return e.cmd
	case <-ctx.Done():
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

func (b *redisBatcher) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return b.rdb.Eval(ctx, script, keys, args...)
}

func (b *redisBatcher) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return b.rdb.EvalRO(ctx, script, keys, args...)
}

func (b *redisBatcher) EvalShaRO(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return b.rdb.EvalShaRO(ctx, sha, keys, args...)
}

func (b *redisBatcher) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return b.rdb.ScriptExists(ctx, hashes...)
}

func (b *redisBatcher) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return b.rdb.ScriptLoad(ctx, script)
}

func (b *redisBatcher) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return b.rdb.Del(ctx, keys...)
}

// run sends the queued calls until ctx ends; calls queued then are answered with its error.
func (b *redisBatcher) run(ctx context.Context) error {
	b.running.Store(true)
	defer b.running.Store(false)
	batch := make([]*batchedEval, 0, b.max)
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e := <-b.q:
					e.cmd = redis.NewCmd(e.ctx)
					e.cmd.SetErr(ctx.Err())
					close(e.done)
				default:
					return nil
				}
			}
		case e := <-b.q:
			batch = append(batch[:0], e)
		}
	gather:
		for len(batch) < b.max {
			select {
			case e := <-b.q:
				batch = append(batch, e)
			default:
				break gather
			}
		}
		b.send(ctx, batch)
	}
}

// send runs one pipeline. Each call keeps its own answer or error (a script error for one
// does not fail the others); a call whose caller has given up is still sent, as it would
// have been without batching.
func (b *redisBatcher) send(ctx context.Context, batch []*batchedEval) {
	// A Redis that does not answer must not hold the batcher longer than its callers wait
	// (they fall back to the local limiter): the pipeline gets a short deadline of its own.
	ctx, cancel := context.WithTimeout(ctx, redisBatchTimeout)
	defer cancel()
	pipe := b.rdb.Pipeline()
	for _, e := range batch {
		e.cmd = pipe.EvalSha(ctx, e.sha, e.keys, e.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are on each command
	for _, e := range batch {
		close(e.done)
	}
	clear(batch)
}
