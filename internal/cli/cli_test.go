package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/cli"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// isolate points the commands at a fresh database and away from the repository's config file.
func isolate(t *testing.T) testenv.Database {
	db := testenv.NewDatabase(t, false)
	t.Setenv("DISPATCHHUB_POSTGRES_URL", db.AppURL)
	t.Setenv("DISPATCHHUB_POSTGRES_MIGRATE_URL", db.OwnerURL)
	t.Setenv("DISPATCHHUB_HTTP_PUBLIC_URL", "https://hub.example.com")
	return db
}

func TestInvalidConfigIsOneLineAndExitCode2(t *testing.T) {
	cases := map[string]string{
		"DISPATCHHUB_HTTP_PORT=0":          "http.port: must be 1-65535, got 0",
		"DISPATCHHUB_LOG_LEVEL=chatty":     `log.level: must be one of trace, debug, info, warn, error, got "chatty"`,
		"DISPATCHHUB_REDIS_ADDR=nowhere":   `redis.addr: must be host:port, got "nowhere"`,
		"DISPATCHHUB_NATS_REPLICAS=0":      "nats.replicas: must be 1-5, got 0",
		"DISPATCHHUB_STARTUP_RETRY_MAX=0s": "startup.retry_max: must be between 250ms and 1h0m0s, got 0s",
	}
	for env, want := range cases {
		t.Run(env, func(t *testing.T) {
			k, v, _ := strings.Cut(env, "=")
			t.Setenv(k, v)
			for _, args := range [][]string{{"serve"}, {"migrate", "status"}, {"tenant", "create", "X"}} {
				code, stdout, stderr := run(t, args...)
				assert.Equal(t, cli.ExitConfig, code, "%v", args)
				assert.Empty(t, stdout)
				assert.Equal(t, want+"\n", stderr, "%v: exactly one line", args)
			}
		})
	}
	code, _, stderr := run(t, "serve", "--http.port=99999")
	assert.Equal(t, cli.ExitConfig, code)
	assert.Equal(t, "http.port: must be 1-65535, got 99999\n", stderr, "flags are validated the same way")

	code, _, stderr = run(t, "serve", "--config", filepath.Join(t.TempDir(), "absent.yaml"))
	assert.Equal(t, cli.ExitConfig, code)
	assert.Contains(t, stderr, "absent.yaml")
}

func TestVersionJSON(t *testing.T) {
	code, stdout, _ := run(t, "version", "--json")
	require.Equal(t, 0, code)
	var v map[string]string
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	assert.Contains(t, v, "version")
	assert.Contains(t, v, "commit")
	assert.True(t, strings.HasPrefix(v["go"], "go"))
}

func TestMigrateTenantStore(t *testing.T) {
	isolate(t)
	code, stdout, stderr := run(t, "tenant", "create", "Acme")
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, stderr, "migrate up", "a missing schema says what to do")
	assert.Empty(t, stdout)

	code, stdout, stderr = run(t, "migrate", "up", "--json")
	require.Equal(t, 0, code, stderr)
	var st struct {
		Version    uint `json:"version"`
		Migrations []struct {
			Applied bool `json:"applied"`
		} `json:"migrations"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.NotZero(t, st.Version)

	code, stdout, stderr = run(t, "tenant", "create", "Acme Foods, Inc.", "--json")
	require.Equal(t, 0, code, stderr)
	var tenant map[string]string
	require.NoError(t, json.Unmarshal([]byte(stdout), &tenant), stdout)
	assert.Equal(t, "acme-foods-inc", tenant["id"])
	assert.Equal(t, 1, strings.Count(stdout, "\n"), "one JSON object")

	code, _, stderr = run(t, "tenant", "create", "Acme Foods, Inc.")
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, stderr, "already exists")

	code, stdout, stderr = run(t, "store", "add", "--tenant", "acme-foods-inc", "--platform", "shopify",
		"--secret-ref", "env:SHOPIFY_SECRET", "--secret-ref", "env:SHOPIFY_SECRET_NEXT", "--pickup", "38.7223,-9.1393", "--json")
	require.Equal(t, 0, code, stderr)
	var s map[string]string
	require.NoError(t, json.Unmarshal([]byte(stdout), &s), stdout)
	require.Len(t, s["id"], 36)
	assert.Equal(t, "https://hub.example.com/v1/webhooks/shopify/"+s["id"], s["webhook_url"])

	for args, want := range map[string]string{
		"--tenant nobody --platform shopify --secret-ref env:X --pickup 1,2":          "tenant nobody: not found",
		"--tenant acme-foods-inc --platform shopify --secret-ref plain --pickup 1,2":  "secret ref must be env:NAME or file:/absolute/path",
		"--tenant acme-foods-inc --platform shopify --secret-ref env:X --pickup 95,2": "pickup: must be LAT,LNG",
		"--tenant acme-foods-inc --platform shopify --secret-ref env:X --pickup here": "pickup: must be LAT,LNG",
		"--tenant acme-foods-inc --platform shopify --pickup 1,2":                     `required flag(s) "secret-ref" not set`,
	} {
		code, stdout, stderr := run(t, append([]string{"store", "add"}, strings.Fields(args)...)...)
		assert.Equal(t, cli.ExitError, code, args)
		assert.Empty(t, stdout, args)
		assert.Contains(t, stderr, want, args)
	}

	code, stdout, _ = run(t, "migrate", "down", "--all")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "schema version 0")
}

// TestServeBinaryStopsOnSIGTERM builds the real binary, runs `serve`, waits for readiness
// and checks that SIGTERM stops it cleanly with exit code 0.
func TestServeBinaryStopsOnSIGTERM(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	bin := filepath.Join(t.TempDir(), "dispatchhub")
	build := exec.Command("go", "build", "-o", bin, "../..")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	port := testenv.FreePort(t)
	cmd := exec.Command(bin, "serve", "--http.port="+strconv.Itoa(port), "--nats.port=-1",
		"--mqtt.tcp_addr=127.0.0.1:0", "--mqtt.ws_addr=127.0.0.1:0", "--auth.hs256_secret_ref=env:DH_TEST_JWT_SECRET",
		"--data_dir="+t.TempDir(), "--shutdown_timeout=10s")
	cmd.Env = append(os.Environ(),
		"DISPATCHHUB_POSTGRES_URL="+db.AppURL,
		"DISPATCHHUB_POSTGRES_MIGRATE_URL="+db.OwnerURL,
		"DISPATCHHUB_REDIS_ADDR="+testenv.RedisAddr(),
		"DH_TEST_JWT_SECRET=cli-test-hs256-secret-at-least-32-bytes",
	)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/readyz"
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the binary becomes ready")
	http.DefaultClient.CloseIdleConnections()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit code 0 after SIGTERM; logs:\n%s", logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within the shutdown timeout; logs:\n%s", logs.String())
	}
	assert.Contains(t, logs.String(), `"message":"stopped"`)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		assert.True(t, json.Valid([]byte(line)), "every log line is JSON: %s", line)
	}
}
