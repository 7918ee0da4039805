package bus_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(dir string) bus.Config {
	return bus.Config{
		Host: "127.0.0.1", Port: -1, StoreDir: dir, MaxStore: 1 << 30, Replicas: 1,
		DuplicateWindow: 2 * time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: 2 * time.Hour,
	}
}

func TestEmbeddedStreamsAreFileBackedAndSyncAlways(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := bus.Start(ctx, testConfig(dir), zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()

	jsc := b.Embedded().JetStreamConfig()
	require.NotNil(t, jsc)
	assert.True(t, jsc.SyncAlways, "JetStream fsyncs every write")
	assert.Equal(t, filepath.Join(dir, "jetstream"), jsc.StoreDir)

	want := map[string]string{bus.StreamIngest: "ingest.>", bus.StreamEvents: "events.>", bus.StreamOutbound: "outbound.>"}
	for name, subject := range want {
		s, err := b.JetStream().Stream(ctx, name)
		require.NoError(t, err, name)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, jetstream.FileStorage, info.Config.Storage, name)
		assert.Equal(t, []string{subject}, info.Config.Subjects, name)
		assert.Equal(t, 2*time.Minute, info.Config.Duplicates, name)
	}
	require.NoError(t, b.Check(ctx))
	assert.NotEmpty(t, b.ClientURL(), "a TCP listener for nats CLI taps")

	// De-duplication by Nats-Msg-Id within the window.
	for range 2 {
		ack, err := b.JetStream().PublishMsg(ctx, &nats.Msg{Subject: "events.t1.OrderCreated", Data: []byte(`{}`), Header: nats.Header{"Nats-Msg-Id": []string{"evt-1"}}})
		require.NoError(t, err)
		assert.Equal(t, bus.StreamEvents, ack.Stream)
	}
	s, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs, "the duplicate was dropped")
}

func TestStreamsSurviveRestartAndAreUpdated(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := bus.Start(ctx, testConfig(dir), zerolog.Nop())
	require.NoError(t, err)
	_, err = b.JetStream().Publish(ctx, "ingest.shopify.t1", []byte(`{"n":1}`))
	require.NoError(t, err)
	b.Close()

	cfg := testConfig(dir)
	cfg.IngestMaxAge = 3 * time.Hour
	b, err = bus.Start(ctx, cfg, zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()
	s, err := b.JetStream().Stream(ctx, bus.StreamIngest)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs, "the message survived the restart")
	assert.Equal(t, 3*time.Hour, info.Config.MaxAge, "the stream was updated to the new configuration")
}

func TestExternalCluster(t *testing.T) {
	ctx := context.Background()
	external, err := bus.Start(ctx, testConfig(t.TempDir()), zerolog.Nop())
	require.NoError(t, err)
	defer external.Close()

	cfg := testConfig("")
	cfg.URL = external.ClientURL()
	b, err := bus.Start(ctx, cfg, zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()
	assert.Nil(t, b.Embedded())
	require.NoError(t, b.Check(ctx))
	_, err = b.JetStream().Stream(ctx, bus.StreamOutbound)
	require.NoError(t, err)

	cfg.URL = "nats://127.0.0.1:1"
	_, err = bus.Start(ctx, cfg, zerolog.Nop())
	assert.Error(t, err, "an unreachable cluster is an error, not a hang")
}

func TestTakenPortIsAClearError(t *testing.T) {
	ctx := context.Background()
	first, err := bus.Start(ctx, testConfig(t.TempDir()), zerolog.Nop())
	require.NoError(t, err)
	defer first.Close()
	cfg := testConfig(t.TempDir())
	u, err := url.Parse(first.ClientURL())
	require.NoError(t, err)
	cfg.Port, err = strconv.Atoi(u.Port())
	require.NoError(t, err)
	_, err = bus.Start(ctx, cfg, zerolog.Nop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nats")
}
