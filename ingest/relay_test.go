package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// newTestRelay is a relay on a database and an embedded NATS server of its own.
func newTestRelay(t *testing.T) (*relay, *bus.Bus) {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	rl := newRelay(db, b.JetStream(), time.Second, zerolog.Nop(), prometheus.NewRegistry())
	return rl, b
}

func TestRelayPublishesAtomicBatchesAndFallsBackOnDuplicates(t *testing.T) {
	rl, b := newTestRelay(t)
	ctx := context.Background()

	msgs := func(from, to int) []Message {
		var out []Message
		for i := from; i < to; i++ {
			out = append(out, Message{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Tenant: "acme", StoreID: "s", Platform: "shopify",
				EventID: fmt.Sprint(i), EventType: "orders/create", ReceivedAt: time.Now()})
		}
		return out
	}
	stored := func() uint64 {
		st, err := b.JetStream().Stream(ctx, bus.StreamIngest)
		require.NoError(t, err)
		info, err := st.Info(ctx)
		require.NoError(t, err)
		return info.State.Msgs
	}

	assert.Equal(t, 600, rl.publish(ctx, msgs(0, 600)), "600 messages: one batch of 500, one of 100")
	assert.Equal(t, uint64(600), stored())
	assert.Equal(t, 2.0, testutil.ToFloat64(rl.batches.WithLabelValues("stored")))

	// A replay after a crash: the batch holds messages already in the stream. The server
	// refuses the whole batch; the relay publishes one by one and the copies are dropped.
	assert.Equal(t, 40, rl.publish(ctx, msgs(590, 630)))
	assert.Equal(t, uint64(630), stored(), "each message once")
	assert.Equal(t, 1.0, testutil.ToFloat64(rl.batches.WithLabelValues("refused")))

	cons, err := b.JetStream().CreateOrUpdateConsumer(ctx, bus.StreamIngest, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
	require.NoError(t, err)
	batch, err := cons.FetchNoWait(630)
	require.NoError(t, err)
	n := 0
	batchIDs := map[string]int{}
	for m := range batch.Messages() {
		assert.Equal(t, fmt.Sprintf("00000000-0000-7000-8000-%012d", n), m.Headers().Get(jetstream.MsgIDHeader), "in order")
		batchIDs[m.Headers().Get(bus.BatchIDHeader)]++
		n++
	}
	assert.Equal(t, 630, n)
	assert.Len(t, batchIDs, 3, "two atomic batches, then messages published alone")
	assert.Equal(t, 30, batchIDs[""])

	// A short run is not worth an atomic batch: published message by message.
	assert.Equal(t, 5, rl.publish(ctx, msgs(630, 635)))
	assert.Equal(t, uint64(635), stored())
	assert.Equal(t, 2.0, testutil.ToFloat64(rl.batches.WithLabelValues("stored")))
	assert.Equal(t, 1.0, testutil.ToFloat64(rl.batches.WithLabelValues("refused")))
}

// While the fast path has a queue the poller lets up to maxYield polls pass, so that it does
// not publish again what the fast path is about to; then it polls anyway, for the rows the
// fast path dropped.
func TestRelayPollerYieldsToABackloggedFastPath(t *testing.T) {
	rl, _ := newTestRelay(t)
	ctx := context.Background()

	assert.True(t, rl.tick(ctx), "an idle fast path: the poller polls")
	rl.fast <- Message{ID: "queued"}
	for i := range maxYield {
		assert.False(t, rl.tick(ctx), "poll %d lets the backlogged fast path go first", i+1)
	}
	assert.True(t, rl.tick(ctx), "after maxYield polls it polls anyway")
	assert.False(t, rl.tick(ctx), "and yields again")
	<-rl.fast
	assert.True(t, rl.tick(ctx), "the queue is empty again")
}
