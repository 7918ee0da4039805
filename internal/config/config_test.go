package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const shippedFile = "../../configs/dispatchhub.yaml"

func TestShippedFileDocumentsEveryKeyWithItsDefault(t *testing.T) {
	k := koanf.New(".")
	require.NoError(t, k.Load(file.Provider(shippedFile), yaml.Parser()))
	assert.ElementsMatch(t, Keys(), k.Keys(), "configs/dispatchhub.yaml must list exactly the keys of config.Config")

	cfg, err := Load(Options{File: shippedFile, Environ: []string{}})
	require.NoError(t, err)
	assert.Equal(t, Default(), cfg, "the shipped file's values must be the defaults")
}

func TestDefaultsAreValid(t *testing.T) {
	cfg := Default()
	require.NoError(t, cfg.Validate())
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("http:\n  port: 9000\n  read_timeout: 3s\nlog:\n  level: debug\n"), 0o600))

	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--http.port=9002", "--http.trusted_proxies=10.0.0.0/8, 127.0.0.1"}))

	cfg, err := Load(Options{
		File:    path,
		Environ: []string{"DISPATCHHUB_HTTP_PORT=9001", "DISPATCHHUB_POSTGRES_MIGRATE_URL=postgres://u:p@db:5432/x", "DISPATCHHUB_UNRELATED=1"},
		Flags:   fs,
	})
	require.NoError(t, err)
	assert.Equal(t, 9002, cfg.HTTP.Port, "flag beats env beats file")
	assert.Equal(t, 3*time.Second, cfg.HTTP.ReadTimeout, "file beats default")
	assert.Equal(t, "debug", cfg.Log.Level)
	assert.Equal(t, "postgres://u:p@db:5432/x", cfg.Postgres.MigrateURL, "keys with underscores map from env")
	assert.Equal(t, []string{"10.0.0.0/8", "127.0.0.1"}, cfg.HTTP.TrustedProxies)
	assert.Equal(t, Default().HTTP.WriteTimeout, cfg.HTTP.WriteTimeout, "unset flags do not override")
}

func TestNamedFileMustExist(t *testing.T) {
	_, err := Load(Options{File: filepath.Join(t.TempDir(), "missing.yaml"), Environ: []string{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestInvalidValuesNameKeyValueAndAllowed(t *testing.T) {
	cases := []struct {
		env  string
		want string
	}{
		{"DISPATCHHUB_HTTP_PORT=0", "http.port: must be 1-65535, got 0"},
		{"DISPATCHHUB_HTTP_PORT=70000", "http.port: must be 1-65535, got 70000"},
		{"DISPATCHHUB_HTTP_PORT=abc", `http.port: must be an integer, got "abc"`},
		{"DISPATCHHUB_LOG_LEVEL=loud", `log.level: must be one of trace, debug, info, warn, error, got "loud"`},
		{"DISPATCHHUB_LOG_FORMAT=xml", `log.format: must be one of json, console, got "xml"`},
		{"DISPATCHHUB_HTTP_READ_TIMEOUT=soon", `http.read_timeout: must be a duration such as 500ms, 10s or 1m30s, got "soon"`},
		{"DISPATCHHUB_HTTP_READ_TIMEOUT=1ms", "http.read_timeout: must be between 100ms and 10m0s, got 1ms"},
		{"DISPATCHHUB_HTTP_BODY_LIMIT=lots", `http.body_limit: must be a size such as 65536, 64KiB or 4MiB, got "lots"`},
		{"DISPATCHHUB_HTTP_BODY_LIMIT=2GiB", "http.body_limit: must be between 1KiB and 1GiB, got 2GiB"},
		{"DISPATCHHUB_HTTP_PUBLIC_URL=ftp://x", `http.public_url: must be an http:// or https:// URL, got "ftp://x"`},
		{"DISPATCHHUB_HTTP_TRUSTED_PROXIES=10.0.0.0/33", `http.trusted_proxies: must be IP addresses or CIDR ranges, got "10.0.0.0/33"`},
		{"DISPATCHHUB_POSTGRES_URL=mysql://x", "postgres.url: must be a postgres://user:password@host:port/db URL (or ?host=/socket/dir), got a value that is not one"},
		{"DISPATCHHUB_POSTGRES_MAX_CONNS=0", "postgres.max_conns: must be 1-1000, got 0"},
		{"DISPATCHHUB_POSTGRES_AUTO_MIGRATE=maybe", `postgres.auto_migrate: must be true or false, got "maybe"`},
		{"DISPATCHHUB_REDIS_ADDR=localhost", `redis.addr: must be host:port, got "localhost"`},
		{"DISPATCHHUB_REDIS_DB=16", "redis.db: must be 0-15, got 16"},
		{"DISPATCHHUB_NATS_URL=http://x", `nats.url: must be empty (embedded server) or nats:// URLs separated by commas, got "http://x"`},
		{"DISPATCHHUB_NATS_PORT=-2", "nats.port: must be 1-65535, 0 (no TCP listener) or -1 (random), got -2"},
		{"DISPATCHHUB_NATS_REPLICAS=7", "nats.replicas: must be 1-5, got 7"},
		{"DISPATCHHUB_SHUTDOWN_TIMEOUT=0s", "shutdown_timeout: must be between 1s and 5m0s, got 0s"},
		{"DISPATCHHUB_DATA_DIR=", `data_dir: must not be empty, got ""`},
		{"DISPATCHHUB_DISPATCH_STRATEGY=closest", `dispatch.strategy: must be one of nearest, batch, broadcast, manual, got "closest"`},
		{"DISPATCHHUB_DISPATCH_MAX_SPEED=fast", `dispatch.max_speed: must be a number, got "fast"`},
		{"DISPATCHHUB_DISPATCH_MAX_SPEED=400", "dispatch.max_speed: must be 1-340 (m/s), got 400"},
		{"DISPATCHHUB_DISPATCH_H3_RESOLUTION=16", "dispatch.h3_resolution: must be 1-15, got 16"},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			_, err := Load(Options{File: shippedFile, Environ: []string{tc.env}})
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			var fe *FieldError
			assert.True(t, errors.As(err, &fe), "a FieldError is reachable with errors.As")
		})
	}
}

func TestPostgresURLIsNeverEchoed(t *testing.T) {
	_, err := Load(Options{File: shippedFile, Environ: []string{"DISPATCHHUB_POSTGRES_URL=mysql://root:hunter2@db"}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestUnknownFileKeyIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("http:\n  prot: 9000\n"), 0o600))
	_, err := Load(Options{File: path, Environ: []string{}})
	require.Error(t, err)
	assert.Equal(t, "http.prot: unknown key (see configs/dispatchhub.yaml for the keys)", err.Error())
}

func TestSeveralInvalidKeysGiveOneLineEach(t *testing.T) {
	_, err := Load(Options{File: shippedFile, Environ: []string{"DISPATCHHUB_HTTP_PORT=0", "DISPATCHHUB_REDIS_DB=99"}})
	require.Error(t, err)
	assert.Equal(t, "http.port: must be 1-65535, got 0\nredis.db: must be 0-15, got 99", err.Error())
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"65536": 65536, "64KiB": 64 * KiB, "4 MiB": 4 * MiB, "1GiB": GiB, "10KB": 10_000, "7B": 7} {
		got, err := ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		_, err := ParseByteSize(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "64KiB", (64 * KiB).String())
	assert.Equal(t, "1000", ByteSize(1000).String())
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"1", "64KiB", "4MiB", "1GiB", "10KB", "-5", " 3 MB ", "9223372036854775807GiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed to negative %d", s, n)
		}
		back, err := ParseByteSize(n.String())
		if err != nil || back != n {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, n, n.String(), back, err)
		}
	})
}

func TestIntakeBackoff(t *testing.T) {
	assert.Equal(t, []time.Duration{time.Second, 4 * time.Second, 16 * time.Second, 30 * time.Second}, Default().Intake.Backoff())
	assert.Equal(t, []time.Duration{time.Second}, Intake{Attempts: 1, RetryDelay: time.Second, RetryDelayMax: time.Minute}.Backoff())
	assert.Equal(t, []time.Duration{2 * time.Second}, Intake{Attempts: 3, RetryDelay: 2 * time.Second, RetryDelayMax: 2 * time.Second}.Backoff())
}
