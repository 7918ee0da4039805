package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/app"
	"github.com/pilotx/dispatchhub/internal/cli"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/sim"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

const simTestSecret = "cli-sim-test-hs256-secret-at-least-32-bytes"

// simHub starts a hub in this process on free ports and returns the config flags that point
// a command at it.
func simHub(t testing.TB) []string {
	t.Helper()
	db := testenv.NewDatabase(t, true)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Port = testenv.FreePort(t)
	cfg.Postgres.URL, cfg.Postgres.MigrateURL = db.AppURL, db.OwnerURL
	cfg.Redis.Addr = testenv.RedisAddr()
	cfg.Redis.KeyPrefix = "dh-sim-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	cfg.NATS.Port = -1
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.MQTT.TCPAddr = "127.0.0.1:0"
	cfg.MQTT.WSAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cfg.Dispatch.SweepInterval = 100 * time.Millisecond
	cfg.Dispatch.MaxSpeed = 340 // the simulated drivers are fast, so that the test is short
	cfg.Presence.Grace = time.Second
	secretFile := filepath.Join(cfg.DataDir, "jwt.secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(simTestSecret), 0o600))
	cfg.Auth.HS256SecretRef = "file:" + secretFile
	require.NoError(t, cfg.Validate())

	h := app.New(cfg, zerolog.Nop(), io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
			t.Error("the hub did not stop")
		}
	})
	select {
	case <-h.Started():
	case err := <-done:
		t.Fatalf("hub stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("hub not started")
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + cfg.HTTPAddr() + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, "/readyz answers 200")
	return []string{
		"--data_dir=" + cfg.DataDir,
		"--http.port=" + strconv.Itoa(cfg.HTTP.Port),
		"--postgres.url=" + db.AppURL,
		"--mqtt.ws_addr=" + cfg.MQTT.WSAddr,
		"--auth.hs256_secret_ref=" + cfg.Auth.HS256SecretRef,
	}
}

// A short run of scenario (a), scaled down: every webhook of the five platforms is accepted
// and becomes an order that is offered, accepted, picked up and delivered, with no message
// lost and none duplicated. Correctness only: no timing is asserted.
func TestSimScenarioADeliversEveryOrder(t *testing.T) {
	hubFlags := simHub(t)
	report := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"sim", "--scenario", "a",
		"--drivers", "40", "--stores", "5", "--rate", "10", "--duration", "8s",
		"--accept", "1", "--dwell", "1s", "--speed", "250", "--city", "grid", "--fix-every", "300ms-600ms",
		"--dropout", "0.02", "--drain", "90s", "--seed", "42", "--tenant", "simtest", "--json", report,
	}, hubFlags...)
	code, stdout, stderr := run(t, args...)
	require.Equal(t, cli.ExitOK, code, "stderr:\n%s\nstdout:\n%s", stderr, stdout)
	assert.Contains(t, stdout, "webhook → offer", "the table is printed")
	assert.Contains(t, stderr, "webhooks ", "progress lines")
	assert.Regexp(t, `t=\d+s webhooks [\d.]+/s drivers \d+/40 open \d+ p99 ack \S+ offer \S+ loc \S+`, stderr)

	raw, err := os.ReadFile(report)
	require.NoError(t, err)
	var rep sim.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	t.Logf("report:\n%s", rep.Table())

	assert.Equal(t, 40, rep.DriversConnected)
	assert.Zero(t, rep.DriversLost)
	assert.ElementsMatch(t, sim.DefaultPlatforms, rep.Platforms)
	require.NotNil(t, rep.Warmup, "scenario a warms up first")
	assert.Positive(t, rep.Warmup.Webhooks, "about 50 webhooks in its 5 s")
	wh := rep.Webhooks
	require.Greater(t, wh.Sent, int64(40), "about 80 webhooks in 8 s, and the warm-up's")
	assert.Equal(t, wh.Sent, wh.Accepted, "every webhook accepted: %v", wh.ByStatus)
	assert.Zero(t, wh.Failed)
	o := rep.Orders
	assert.Equal(t, wh.Accepted, o.Created, "every webhook became an order")
	assert.Equal(t, o.Created, o.Offered, "every order offered")
	assert.Equal(t, o.Created, o.Accepted, "every order accepted")
	assert.Equal(t, o.Created, o.PickedUp, "every order picked up")
	assert.Equal(t, o.Created, o.Delivered, "every order delivered")
	assert.Zero(t, o.Open)
	assert.Zero(t, rep.LostMessages, "nothing lost: %+v", rep.Lost)
	assert.Zero(t, rep.Duplicates, "nothing duplicated: %+v", rep.DuplicatesBy)
	assert.Positive(t, rep.Fixes.Received)
	assert.Equal(t, rep.Fixes.Sent, rep.Fixes.Received)
	assert.Positive(t, rep.MeanPickupM)
	assert.Empty(t, rep.Errors)
	assert.Zero(t, rep.ForeignJobs)

	// --json - prints the report alone on stdout
	code, stdout, stderr = run(t, append([]string{"sim", "--drivers", "0", "--rate", "5", "--duration", "1s",
		"--tenant", "simtest2", "--json", "-"}, hubFlags...)...)
	require.Equal(t, cli.ExitOK, code, stderr)
	var rep2 sim.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep2), stdout)
	assert.Equal(t, rep2.Webhooks.Sent, rep2.Orders.Created)
	assert.Equal(t, rep2.Webhooks.Sent, rep2.Orders.CancelledAtEnd, "orders left open are cancelled")
}

func TestSimFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"--scenario z":             "scenario must be a, b, c or d",
		"--accept 0":               "accept: must be above 0",
		"--fix-every 3s-1s":        "fix-every: must be a duration or a range",
		"--platforms shopify,nope": `sim.Platforms: must each be one of`,
		"--city paris":             "sim.City: must be andorra or grid",
	} {
		code, _, stderr := run(t, append([]string{"sim"}, strings.Fields(args)...)...)
		assert.Equal(t, cli.ExitConfig, code, args)
		assert.Contains(t, stderr, want, fmt.Sprint(args))
	}
}
