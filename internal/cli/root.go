// Package cli is the dispatchhub command line: serve, migrate, tenant, store and version.
// Every configuration key is a persistent flag (--http.port=9090) as well as an environment
// variable (DISPATCHHUB_HTTP_PORT) and a key of the configuration file.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/config"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitConfig = 2
)

type env struct {
	stdout, stderr io.Writer
	root           *cobra.Command
	configFile     string
}

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "dispatchhub",
		Short:         "The dispatch hub of a last-mile delivery company",
		Long:          "dispatchhub receives store webhooks, turns them into orders, assigns them to drivers over MQTT and syncs status back to the stores.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.PersistentFlags().StringVar(&e.configFile, "config", "", "configuration file (default "+config.DefaultFile+" when present)")
	config.RegisterFlags(root.PersistentFlags())
	e.root = root
	root.AddCommand(e.serveCmd(), e.migrateCmd(), e.tenantCmd(), e.storeCmd(), e.versionCmd(), e.webhooksCmd(), e.tokenCmd(), e.dlqCmd(), e.simCmd())

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, err.Error())
	var ce configError
	if errors.As(err, &ce) {
		return ExitConfig
	}
	return ExitError
}

// configError marks an invalid configuration: exit code 2, one line per key.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// load reads and validates the configuration for cmd.
func (e *env) load(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(config.Options{File: e.configFile, Flags: cmd.Flags()})
	if err != nil {
		return cfg, configError{err}
	}
	return cfg, nil
}

// logger builds the process logger from log.level and log.format.
func (e *env) logger(cfg config.Config) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var w io.Writer = e.stderr
	if cfg.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: e.stderr, TimeFormat: time.TimeOnly}
	}
	log := zerolog.New(w).Level(level).With().Timestamp().Logger()
	// go-redis logs through a process-wide logger of its own; keep its lines structured too.
	redis.SetLogger(redisLogger{log.With().Str("component", "redis").Logger()})
	return log
}

type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn().Msgf(format, v...)
}

// printJSON writes one JSON object and a newline on stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	return enc.Encode(v)
}

// hint adds what to do to errors a user can fix.
func hint(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not exist") && strings.Contains(msg, "relation"):
		return fmt.Errorf("%w (run `dispatchhub migrate up` first)", err)
	case strings.Contains(msg, "connect"):
		return fmt.Errorf("%w (is PostgreSQL up? `scripts/services.sh up`)", err)
	}
	return err
}
