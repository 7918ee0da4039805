package cli_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/cli"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// dlqEnv is a migrated database with tenant acme and two dead letters (shopify, then
// woocommerce), and an embedded NATS server listening on a fixed port, as serve runs it.
func dlqEnv(t *testing.T) (*store.DB, *bus.Bus, int) {
	t.Helper()
	info := isolate(t)
	code, _, stderr := run(t, "migrate", "up")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = run(t, "tenant", "create", "Acme")
	require.Equal(t, 0, code, stderr)

	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 4, ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, p := range []string{"shopify", "woocommerce"} {
		require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
			return dlq.Record(ctx, tx, dlq.DeadLetter{Source: dlq.SourceIngest, Platform: p, Subject: "ingest." + p + ".acme",
				MessageID: "m-" + p, Payload: []byte(`{"id":"m-` + p + `"}`), Headers: map[string]string{"X-Topic": "orders/create"},
				Error: "store lookup failed\nsecond line", Attempts: 5})
		}))
	}
	port := testenv.FreePort(t)
	b, err := bus.Start(ctx, bus.Config{Host: "127.0.0.1", Port: port, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return db, b, port
}

func TestDLQList(t *testing.T) {
	dlqEnv(t)

	code, stdout, stderr := run(t, "dlq", "list", "--tenant", "acme")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	assert.True(t, strings.HasPrefix(lines[0], "ID"), "a header")
	assert.Contains(t, lines[1], "woocommerce", "newest first")
	assert.Contains(t, lines[2], "shopify")
	assert.Contains(t, lines[2], "store lookup failed second line", "one line per dead letter")

	code, stdout, stderr = run(t, "dlq", "list", "--tenant", "acme", "--json")
	require.Equal(t, 0, code, stderr)
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, "JSON lines")
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &d))
	assert.Equal(t, "m-shopify", d["message_id"])
	assert.Equal(t, map[string]any{"id": "m-shopify"}, d["payload"])
	assert.Equal(t, map[string]any{"X-Topic": "orders/create"}, d["headers"])

	now := time.Now().UTC()
	for args, want := range map[string]int{
		"--platform shopify": 1,
		"--limit 1":          1,
		"--from " + now.Add(-time.Hour).Format(time.RFC3339) + " --to " + now.Add(time.Hour).Format(time.RFC3339): 2,
		"--from " + now.Add(time.Hour).Format(time.RFC3339):                                                       0,
	} {
		code, stdout, stderr := run(t, append([]string{"dlq", "list", "--tenant", "acme", "--json"}, strings.Fields(args)...)...)
		require.Equal(t, 0, code, "%s: %s", args, stderr)
		assert.Equal(t, want, strings.Count(stdout, "\n"), args)
	}

	code, stdout, _ = run(t, "dlq", "list", "--tenant", "acme", "--platform", "etsy")
	require.Equal(t, 0, code)
	assert.Equal(t, "no dead letters\n", stdout)

	for args, want := range map[string]string{
		"":                            `required flag(s) "tenant" not set`,
		"--tenant Acme":               "tenant: must be 1-40",
		"--tenant acme --from monday": `from: must be an RFC 3339 time such as 2025-05-01T12:00:00Z, got "monday"`,
		"--tenant acme --limit 0":     "limit: must be 1-1000, got 0",
		"--tenant acme --platform P!": "platform: must be",
		"--tenant acme --from 2025-02-01T00:00:00Z --to 2025-01-01T00:00:00Z": "to: must be after --from",
	} {
		code, stdout, stderr := run(t, append([]string{"dlq", "list"}, strings.Fields(args)...)...)
		assert.Equal(t, cli.ExitError, code, args)
		assert.Empty(t, stdout, args)
		assert.Contains(t, stderr, want, args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %s", stderr)
	}
}

func TestDLQReplay(t *testing.T) {
	db, b, port := dlqEnv(t)
	list, err := dlq.List(context.Background(), db, dlq.Filter{Tenant: "acme", Platform: "shopify"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	id := list[0].ID

	// No nats.url: the client port of serve's embedded server (nats.host, nats.port).
	t.Setenv("DISPATCHHUB_NATS_HOST", "127.0.0.1")
	t.Setenv("DISPATCHHUB_NATS_PORT", strconv.Itoa(port))
	code, stdout, stderr := run(t, "dlq", "replay", "--tenant", "acme", id, "--json")
	require.Equal(t, 0, code, stderr)
	var r map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	assert.Equal(t, 1, strings.Count(stdout, "\n"), "one JSON object")
	assert.Equal(t, true, r["replayed"])
	assert.Equal(t, "m-shopify/replay-1", r["message_id"])
	assert.Equal(t, "INGEST", r["stream"])

	// nats.url: a cluster (here the same server).
	t.Setenv("DISPATCHHUB_NATS_PORT", "0")
	t.Setenv("DISPATCHHUB_NATS_URL", b.ClientURL())
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", id)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "replayed "+id+" on ingest.shopify.acme as m-shopify/replay-2, replay 2\n", stdout)

	stream, err := b.JetStream().Stream(context.Background(), bus.StreamIngest)
	require.NoError(t, err)
	info, err := stream.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs, "two replays, two messages")
	m, err := stream.GetLastMsgForSubject(context.Background(), "ingest.shopify.acme")
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"m-shopify"}`, string(m.Data))
	assert.Equal(t, "orders/create", m.Header.Get("X-Topic"))
	assert.Equal(t, "m-shopify/replay-2", m.Header.Get(jetstream.MsgIDHeader))

	code, _, stderr = run(t, "dlq", "replay", "--tenant", "acme", "00000000-0000-0000-0000-000000000000")
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, stderr, "not found")

	// Where NATS cannot be found: one line that says what to do.
	t.Setenv("DISPATCHHUB_NATS_URL", "")
	t.Setenv("DISPATCHHUB_NATS_PORT", "0")
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", id)
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "set nats.url")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)

	t.Setenv("DISPATCHHUB_NATS_PORT", strconv.Itoa(testenv.FreePort(t)))
	code, _, stderr = run(t, "dlq", "replay", "--tenant", "acme", id)
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, stderr, "run this where `dispatchhub serve` runs, or set nats.url")
	assert.NotContains(t, stderr, "PostgreSQL")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)

	after, err := dlq.Get(context.Background(), db, "acme", id)
	require.NoError(t, err)
	assert.Equal(t, 2, after.ReplayCount, "failed replays mark nothing")
}

func TestDLQReplayAll(t *testing.T) {
	db, b, port := dlqEnv(t)
	ctx := context.Background()
	require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, dlq.DeadLetter{Source: dlq.SourceOutbound, Platform: "shopify", Subject: "outbound.shopify.acme",
			MessageID: "job-1", Payload: []byte(`{"job":1}`), Error: "HTTP 500", Attempts: 8})
	}))
	ingest, err := dlq.List(ctx, db, dlq.Filter{Tenant: "acme", Source: dlq.SourceIngest})
	require.NoError(t, err)
	require.Len(t, ingest, 2)
	t.Setenv("DISPATCHHUB_NATS_HOST", "127.0.0.1")
	t.Setenv("DISPATCHHUB_NATS_PORT", strconv.Itoa(port))

	// --json: the summary, one object.
	code, stdout, stderr := run(t, "dlq", "replay", "--tenant", "acme", "--all", "--source", "ingest", "--concurrency", "2", "--json")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(stdout, "\n"), "one JSON object: %s", stdout)
	var s dlq.ReplaySummary
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	assert.Equal(t, 2, s.Matched)
	assert.Equal(t, 2, s.Replayed)
	assert.Zero(t, s.Failed)
	require.Len(t, s.Results, 2)
	for i, r := range s.Results {
		assert.Equal(t, ingest[i].ID, r.ID)
		assert.Equal(t, ingest[i].MessageID+"/replay-1", r.MessageID)
	}
	stream, err := b.JetStream().Stream(ctx, bus.StreamIngest)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs)
	outbound, err := b.JetStream().Stream(ctx, bus.StreamOutbound)
	require.NoError(t, err)
	oinfo, err := outbound.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, oinfo.State.Msgs, "--source ingest: the outbound one stays")

	// --replayed=false: what is left; then nothing.
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", "--all", "--replayed=false")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "replayed 1 of 1 dead letters of acme, 0 failed\n", stdout)
	oinfo, err = outbound.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), oinfo.State.Msgs)
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", "--all", "--replayed=false")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "replayed 0 of 0 dead letters of acme, 0 failed\n", stdout)
	code, stdout, stderr = run(t, "dlq", "list", "--tenant", "acme", "--replayed=false")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "no dead letters\n", stdout)
	code, stdout, stderr = run(t, "dlq", "list", "--tenant", "acme", "--replayed", "--source", "outbound", "--json")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 1, strings.Count(stdout, "\n"), stdout)
	assert.Contains(t, stdout, `"message_id":"job-1"`)

	// Again, the newest shopify one only: a second replay of it.
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", "--all", "--platform", "shopify", "--limit", "1")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "replayed 1 of 1 dead letters of acme, 0 failed\n", stdout)
	got, err := dlq.Get(ctx, db, "acme", oneOf(t, db, dlq.Filter{Tenant: "acme", Source: dlq.SourceOutbound}))
	require.NoError(t, err)
	assert.Equal(t, 2, got.ReplayCount, "the outbound one is the newest shopify one")

	// A stream that takes one more message: the other fails, is listed, and the exit code is 1.
	cfg := info.Config
	cfg.Discard, cfg.MaxMsgs = jetstream.DiscardNew, 3
	_, err = b.JetStream().UpdateStream(ctx, cfg)
	require.NoError(t, err)
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", "--all", "--source", "ingest", "--concurrency", "1")
	assert.Equal(t, cli.ExitError, code)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	assert.Equal(t, "replayed 1 of 2 dead letters of acme, 1 failed", lines[0])
	assert.Regexp(t, `^failed [0-9a-f-]{36}: .*bus unavailable`, lines[1])
	assert.Equal(t, "1 of 2 dead letters not replayed\n", stderr)
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", "--all", "--source", "ingest", "--json")
	assert.Equal(t, cli.ExitError, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	assert.Equal(t, 2, s.Failed, "the stream is full")
	assert.NotEmpty(t, s.Results[0].Error)
	assert.Equal(t, "2 of 2 dead letters not replayed\n", stderr)

	// The single replay still works.
	code, stdout, stderr = run(t, "dlq", "replay", "--tenant", "acme", got.ID)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "as job-1/replay-3, replay 3")
}

func TestDLQReplayFlags(t *testing.T) {
	dlqEnv(t)
	id := "0b7c6c1e-1d0e-4c4a-9b8e-2f0d3c2a1b9f"
	for args, want := range map[string]string{
		"--tenant acme --all " + id:              "give either a dead letter ID or --all, not both",
		"--tenant acme":                          "give the ID of the dead letter to replay, or --all",
		"--tenant acme --platform shopify " + id: "platform: only with --all",
		"--tenant acme --replayed=false " + id:   "replayed: only with --all",
		"--tenant acme --concurrency 2 " + id:    "concurrency: only with --all",
		"--tenant acme --all --concurrency 0":    "concurrency: must be 1-32, got 0",
		"--tenant acme --all --concurrency 33":   "concurrency: must be 1-32, got 33",
		"--tenant acme --all --source webhook":   `source: must be ingest or outbound, got "webhook"`,
		"--tenant acme --all --limit 1001":       "limit: must be 1-1000, got 1001",
		"--tenant acme --all --from monday":      `from: must be an RFC 3339 time`,
		"--tenant Acme --all":                    "tenant: must be 1-40",
		"--all":                                  `required flag(s) "tenant" not set`,
		"--tenant acme " + id + " " + id:         "accepts at most 1 arg(s)",
		"--tenant acme --all --from 2025-02-01T00:00:00Z --to 2025-01-01T00:00:00Z": "to: must be after --from",
	} {
		code, stdout, stderr := run(t, append([]string{"dlq", "replay"}, strings.Fields(args)...)...)
		assert.Equal(t, cli.ExitError, code, args)
		assert.Empty(t, stdout, args)
		assert.Contains(t, stderr, want, args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %s", stderr)
	}
	code, stdout, stderr := run(t, "dlq", "list", "--tenant", "acme", "--source", "webhook")
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "source: must be ingest or outbound, got \"webhook\"\n", stderr)
}

// oneOf is the id of the one dead letter that matches f.
func oneOf(t *testing.T, db *store.DB, f dlq.Filter) string {
	t.Helper()
	list, err := dlq.List(context.Background(), db, f)
	require.NoError(t, err)
	require.Len(t, list, 1)
	return list[0].ID
}
