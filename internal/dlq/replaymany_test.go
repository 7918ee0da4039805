package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
)

// gatedJS publishes through a real JetStream and measures the publishes in flight. Each one
// waits until gate publishes are in flight (or 5 s pass), then holds them for hold:
// a ReplayMany that runs fewer at a time never reaches the gate, and one that runs more
// overshoots it while the first are held.
type gatedJS struct {
	jetstream.JetStream
	gate int
	hold time.Duration
	// fail, when set, refuses the publishes it reports true for, as a bus that does not answer.
	fail func(*nats.Msg) bool
	// onPublish, when set, runs at the start of each publish.
	onPublish func()

	mu       sync.Mutex
	inflight int
	max      int
}

var _ jetstream.JetStream = (*gatedJS)(nil)

func (g *gatedJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if g.onPublish != nil {
		g.onPublish()
	}
	g.mu.Lock()
	g.inflight++
	g.max = max(g.max, g.inflight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		n := g.inflight
		g.mu.Unlock()
		if n >= g.gate {
			break
		}
	}
	time.Sleep(g.hold)
	if g.fail != nil && g.fail(msg) {
		return nil, nats.ErrNoResponders
	}
	return g.JetStream.PublishMsg(ctx, msg, opts...)
}

func (g *gatedJS) maxInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// ids lists the ids of the dead letters that match f.
func ids(t *testing.T, db *store.DB, f dlq.Filter) []string {
	t.Helper()
	list, err := dlq.List(context.Background(), db, f)
	require.NoError(t, err)
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.ID
	}
	return out
}

// replaysOn reads every message of stream and returns the dead letters they replay.
func replaysOn(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	out := []string{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m.Header.Get(dlq.ReplayOfHeader))
	}
	return out
}

func TestFilterSourceAndReplayed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", "m-1", now)))
	require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", "m-2", now)))
	require.NoError(t, record(t, e.db, "acme", dlq.DeadLetter{
		Source: dlq.SourceOutbound, Platform: "shopify", Subject: "outbound.shopify.acme", MessageID: "job-1", Error: "HTTP 500", Attempts: 8,
	}))
	ingest := ids(t, e.db, dlq.Filter{Tenant: "acme", Source: dlq.SourceIngest})
	require.Len(t, ingest, 2)
	outbound := ids(t, e.db, dlq.Filter{Tenant: "acme", Source: dlq.SourceOutbound})
	require.Len(t, outbound, 1)
	assert.NotContains(t, ingest, outbound[0])

	_, err := dlq.Replay(ctx, e.db, e.bus.JetStream(), "acme", ingest[0])
	require.NoError(t, err)
	yes, no := true, false
	assert.Equal(t, []string{ingest[0]}, ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &yes}))
	assert.ElementsMatch(t, []string{ingest[1], outbound[0]}, ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &no}))
	assert.Equal(t, []string{ingest[1]}, ids(t, e.db, dlq.Filter{Tenant: "acme", Source: dlq.SourceIngest, Replayed: &no}))
	assert.Empty(t, ids(t, e.db, dlq.Filter{Tenant: "acme", Source: dlq.SourceOutbound, Replayed: &yes}))
	assert.Len(t, ids(t, e.db, dlq.Filter{Tenant: "acme"}), 3, "no filter: all")

	for name, f := range map[string]dlq.Filter{
		"source":   {Tenant: "acme", Source: "webhook"},
		"platform": {Tenant: "acme", Platform: "Shop ify"},
		"from":     {Tenant: "acme", From: now, To: now},
	} {
		_, err := dlq.List(ctx, e.db, f)
		assert.ErrorIs(t, err, dlq.ErrFilter, name)
		assert.ErrorContains(t, err, name, name)
		_, err = dlq.ReplayMany(ctx, e.db, e.bus.JetStream(), f, 1)
		assert.ErrorIs(t, err, dlq.ErrFilter, name)
	}
}

func TestReplayManyReplaysTheMatchesWithinTheBound(t *testing.T) {
	for _, c := range []struct{ concurrency, bound, letters int }{{3, 3, 9}, {0, dlq.DefaultConcurrency, 8}, {1, 1, 3}} {
		t.Run(fmt.Sprintf("concurrency %d", c.concurrency), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			now := time.Now().UTC()
			for i := range c.letters {
				require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", fmt.Sprintf("m-%d", i), now)))
			}
			// Not matched: another platform, the other source, another tenant, and one replayed already.
			require.NoError(t, record(t, e.db, "acme", ingestLetter("woocommerce", "acme", "w-1", now)))
			require.NoError(t, record(t, e.db, "acme", dlq.DeadLetter{
				Source: dlq.SourceOutbound, Platform: "shopify", Subject: "outbound.shopify.acme", MessageID: "job-1", Error: "HTTP 500", Attempts: 8,
			}))
			require.NoError(t, record(t, e.db, "beta", ingestLetter("shopify", "beta", "b-1", now)))
			require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", "done", now)))
			done := ids(t, e.db, dlq.Filter{Tenant: "acme", Limit: 1})
			_, err := dlq.Replay(ctx, e.db, e.bus.JetStream(), "acme", done[0])
			require.NoError(t, err)

			no := false
			f := dlq.Filter{Tenant: "acme", Source: dlq.SourceIngest, Platform: "shopify", Replayed: &no}
			want := ids(t, e.db, f)
			require.Len(t, want, c.letters)
			js := &gatedJS{JetStream: e.bus.JetStream(), gate: c.bound, hold: 30 * time.Millisecond}
			s, err := dlq.ReplayMany(ctx, e.db, js, f, c.concurrency)
			require.NoError(t, err)

			assert.Equal(t, c.bound, js.maxInFlight(), "replays in flight: the bound, reached and never passed")
			assert.Equal(t, c.letters, s.Matched)
			assert.Equal(t, c.letters, s.Replayed)
			assert.Zero(t, s.Failed)
			require.Len(t, s.Results, c.letters)
			for i, r := range s.Results {
				assert.Equal(t, want[i], r.ID, "in the order of List")
				assert.Regexp(t, `^m-\d+/replay-1$`, r.MessageID)
				assert.Empty(t, r.Error)
				assert.NoError(t, r.Err)
			}
			assert.ElementsMatch(t, append([]string{done[0]}, want...), replaysOn(t, e.bus.JetStream(), bus.StreamIngest),
				"the stream has exactly the matches (and the earlier replay)")
			assert.Empty(t, replaysOn(t, e.bus.JetStream(), bus.StreamOutbound))
			yes := true
			assert.ElementsMatch(t, append([]string{done[0]}, want...), ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &yes}))
			assert.Empty(t, ids(t, e.db, dlq.Filter{Tenant: "beta", Replayed: &yes}), "another tenant's untouched")
			got, err := dlq.Get(ctx, e.db, "acme", done[0])
			require.NoError(t, err)
			assert.Equal(t, 1, got.ReplayCount, "filtered out: not replayed again")

			// Again, without the replayed filter: each a second time, under a new message id.
			f.Replayed = nil
			f.Limit = 2
			s, err = dlq.ReplayMany(ctx, e.db, e.bus.JetStream(), f, c.concurrency)
			require.NoError(t, err)
			assert.Equal(t, 2, s.Matched, "the limit holds")
			assert.Equal(t, 2, s.Replayed)
			for _, r := range s.Results {
				assert.Regexp(t, `/replay-2$`, r.MessageID)
			}
		})
	}
}

func TestReplayManyReportsFailuresPerLetter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 6 {
		require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", fmt.Sprintf("m-%d", i), now)))
	}
	all := ids(t, e.db, dlq.Filter{Tenant: "acme"})
	refused := map[string]bool{all[1]: true, all[4]: true}
	js := &gatedJS{JetStream: e.bus.JetStream(), gate: 1, fail: func(m *nats.Msg) bool { return refused[m.Header.Get(dlq.ReplayOfHeader)] }}
	s, err := dlq.ReplayMany(ctx, e.db, js, dlq.Filter{Tenant: "acme"}, 2)
	require.NoError(t, err, "failed replays are results, not an error")
	assert.Equal(t, dlq.ReplaySummary{Matched: 6, Replayed: 4, Failed: 2, Results: s.Results}, s)
	for i, r := range s.Results {
		assert.Equal(t, all[i], r.ID)
		if refused[r.ID] {
			assert.ErrorIs(t, r.Err, dlq.ErrUnavailable, r.ID)
			assert.Contains(t, r.Error, "bus unavailable", r.ID)
			assert.Empty(t, r.MessageID)
		} else {
			assert.NoError(t, r.Err)
			assert.Empty(t, r.Error)
			assert.NotEmpty(t, r.MessageID)
		}
	}
	assert.Len(t, replaysOn(t, e.bus.JetStream(), bus.StreamIngest), 4)

	// What failed is what is left to drain.
	no := false
	left := ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &no})
	assert.ElementsMatch(t, []string{all[1], all[4]}, left, "a failed replay is not marked")
	s, err = dlq.ReplayMany(ctx, e.db, e.bus.JetStream(), dlq.Filter{Tenant: "acme", Replayed: &no}, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, s.Replayed)
	assert.Empty(t, ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &no}))
	assert.ElementsMatch(t, all, replaysOn(t, e.bus.JetStream(), bus.StreamIngest))
}

func TestReplayManyWithoutBus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", fmt.Sprintf("m-%d", i), time.Now())))
	}
	e.bus.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := dlq.ReplayMany(cctx, e.db, e.bus.JetStream(), dlq.Filter{Tenant: "acme"}, 0)
	require.NoError(t, err)
	assert.Equal(t, 3, s.Matched)
	assert.Equal(t, 3, s.Failed)
	for _, r := range s.Results {
		assert.ErrorIs(t, r.Err, dlq.ErrUnavailable, r.ID)
	}
	no := false
	assert.Len(t, ids(t, e.db, dlq.Filter{Tenant: "acme", Replayed: &no}), 3, "nothing marked")
}

func TestReplayManyStopsWithItsContext(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", fmt.Sprintf("m-%d", i), time.Now())))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js := &gatedJS{JetStream: e.bus.JetStream(), gate: 1, onPublish: cancel}
	s, err := dlq.ReplayMany(ctx, e.db, js, dlq.Filter{Tenant: "acme"}, 1)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Matched)
	assert.Equal(t, 4, s.Failed, "the first publish under a cancelled context, the others not started")
	for _, r := range s.Results[1:] {
		assert.True(t, errors.Is(r.Err, context.Canceled), r.Error)
		assert.Contains(t, r.Error, "not replayed")
	}
	assert.Empty(t, replaysOn(t, e.bus.JetStream(), bus.StreamIngest))
}
