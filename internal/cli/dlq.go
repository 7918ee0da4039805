package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
)

// natsConnectTimeout bounds the CLI's wait for NATS.
const natsConnectTimeout = 3 * time.Second

func (e *env) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and replay dead letters (messages given up on after retries)"}
	cmd.AddCommand(e.dlqListCmd(), e.dlqReplayCmd())
	return cmd
}

func checkTenantFlag(tenant string) error {
	if !store.ValidTenantID(tenant) {
		return fmt.Errorf("tenant: must be 1-40 of a-z, 0-9 and '-', not starting or ending with '-', got %q", tenant)
	}
	return nil
}

// dlqFilterFlags are the flags that select dead letters: those of list, and of replay --all.
type dlqFilterFlags struct {
	tenant, source, platform string
	replayed                 bool
	from, to                 string
	limit                    int
}

// register adds the flags to fl; prefix starts the usage of each but --tenant.
func (ff *dlqFilterFlags) register(fl *pflag.FlagSet, prefix, limitUsage string) {
	fl.StringVar(&ff.tenant, "tenant", "", "tenant id (required)")
	fl.StringVar(&ff.source, "source", "", prefix+"only this source: "+dlq.SourceIngest+" or "+dlq.SourceOutbound)
	fl.StringVar(&ff.platform, "platform", "", prefix+"only this platform")
	fl.BoolVar(&ff.replayed, "replayed", false, prefix+"only those replayed already (--replayed) or never replayed (--replayed=false)")
	fl.StringVar(&ff.from, "from", "", prefix+"recorded at or after this time (RFC 3339)")
	fl.StringVar(&ff.to, "to", "", prefix+"recorded before this time (RFC 3339)")
	fl.IntVar(&ff.limit, "limit", dlq.DefaultLimit, prefix+limitUsage+", at most "+strconv.Itoa(dlq.MaxLimit))
}

// filter checks the flags (before the configuration is read) and returns the filter.
func (ff *dlqFilterFlags) filter(fl *pflag.FlagSet) (dlq.Filter, error) {
	f := dlq.Filter{Tenant: ff.tenant, Source: ff.source, Platform: ff.platform, Limit: ff.limit}
	if err := checkTenantFlag(f.Tenant); err != nil {
		return f, err
	}
	if f.Source != "" && f.Source != dlq.SourceIngest && f.Source != dlq.SourceOutbound {
		return f, fmt.Errorf("source: must be %s or %s, got %q", dlq.SourceIngest, dlq.SourceOutbound, f.Source)
	}
	if f.Platform != "" && !store.ValidPlatform(f.Platform) {
		return f, fmt.Errorf("platform: must be 1-40 of a-z, 0-9, '_' and '-', got %q", f.Platform)
	}
	if fl.Changed("replayed") {
		f.Replayed = &ff.replayed
	}
	var err error
	if f.From, err = parseFlagTime("from", ff.from); err != nil {
		return f, err
	}
	if f.To, err = parseFlagTime("to", ff.to); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("to: must be after --from %s, got %s", ff.from, ff.to)
	}
	if f.Limit < 1 || f.Limit > dlq.MaxLimit {
		return f, fmt.Errorf("limit: must be 1-%d, got %d", dlq.MaxLimit, f.Limit)
	}
	return f, nil
}

func (e *env) dlqListCmd() *cobra.Command {
	var ff dlqFilterFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --tenant T [--source S] [--platform P] [--replayed=false] [--from RFC3339] [--to RFC3339] [--limit N]",
		Short: "List a tenant's dead letters, newest first",
		Long: `List a tenant's dead letters, newest first: when, where from (ingest or outbound),
platform, attempts, replays and the error. --source keeps those of one source (ingest or
outbound), --replayed those replayed already and --replayed=false those never replayed.
--from and --to bound the time they were recorded (RFC 3339). --json prints one JSON object
per line, with the payload (as JSON when it is JSON, else base64 in payload_base64) and the
stored headers.`,
		Example: `  dispatchhub dlq list --tenant acme --platform shopify --from 2025-05-01T00:00:00Z
  dispatchhub dlq list --tenant acme --source outbound --replayed=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter(cmd.Flags())
			if err != nil {
				return err
			}
			return e.withDB(cmd, func(ctx context.Context, _ config.Config, db *store.DB) error {
				list, err := dlq.List(ctx, db, f)
				if err != nil {
					return err
				}
				if asJSON {
					for _, d := range list {
						if err := e.printJSON(d); err != nil {
							return err
						}
					}
					return nil
				}
				return e.printDeadLetters(list)
			})
		},
	}
	ff.register(cmd.Flags(), "", "how many to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per dead letter, one per line")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

func parseFlagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: must be an RFC 3339 time such as 2025-05-01T12:00:00Z, got %q", name, s)
	}
	return t, nil
}

// printDeadLetters writes a table, one line per dead letter.
func (e *env) printDeadLetters(list []dlq.DeadLetter) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no dead letters")
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tRECORDED\tSOURCE\tPLATFORM\tMESSAGE\tATTEMPTS\tREPLAYS\tERROR")
	for _, d := range list {
		msg := strings.ReplaceAll(d.Error, "\n", " ")
		if d.LastStatus != 0 {
			msg = "HTTP " + strconv.Itoa(d.LastStatus) + ": " + msg
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.ID, d.CreatedAt.Format(time.RFC3339), d.Source, d.Platform,
			clipText(d.MessageID, 40), d.Attempts, d.ReplayCount, clipText(msg, 80))
	}
	return w.Flush()
}

// clipText shortens s to n runes, marking the cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Time the replay commands give their work, once connected: one dead letter, or all of --all.
const (
	replayTimeout     = 15 * time.Second
	replayManyTimeout = time.Minute
)

func (e *env) dlqReplayCmd() *cobra.Command {
	var ff dlqFilterFlags
	var all, asJSON bool
	var concurrency int
	cmd := &cobra.Command{
		Use:   "replay --tenant T (ID | --all [--source S] [--platform P] [--replayed=false] [--from RFC3339] [--to RFC3339] [--limit N] [--concurrency N])",
		Short: "Publish dead letters again on their subjects (INGEST or OUTBOUND): one by ID, or every match with --all",
		Long: `Publish a dead letter again on its subject, with its payload and headers, under a new
message id (ID's message id + "/replay-N") so that the stream's de-duplication keeps it; the
consumer de-duplicates by the payload's own id. The dead letter is then marked replayed.

With --all instead of an ID, replay every dead letter of the tenant that the filters select,
as dlq list selects them: at most --limit, the newest first, --concurrency at a time.
--replayed=false leaves out those replayed already, so that running it again drains what is
left. It prints one line with the counts, then one line per dead letter that failed; a
failure does not stop the others, and makes the exit code 1.

NATS: nats.url when set (a cluster). Otherwise the hub runs NATS embedded in serve, and this
command connects to serve's client port (nats.host, nats.port): run it where serve runs, or
set nats.url.`,
		Example: `  dispatchhub dlq replay --tenant acme 0b7c6c1e-1d0e-4c4a-9b8e-2f0d3c2a1b9f
  dispatchhub dlq replay --tenant acme --all --source ingest --platform shopify --replayed=false`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTenantFlag(ff.tenant); err != nil {
				return err
			}
			switch {
			case all && len(args) == 1:
				return errors.New("give either a dead letter ID or --all, not both")
			case !all && len(args) == 0:
				return errors.New("give the ID of the dead letter to replay, or --all to replay every one the filters select")
			case !all:
				for _, name := range []string{"source", "platform", "replayed", "from", "to", "limit", "concurrency"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("%s: only with --all (it selects the dead letters to replay)", name)
					}
				}
				return e.replayOne(cmd, ff.tenant, args[0], asJSON)
			}
			f, err := ff.filter(cmd.Flags())
			if err != nil {
				return err
			}
			if concurrency < 1 || concurrency > dlq.MaxConcurrency {
				return fmt.Errorf("concurrency: must be 1-%d, got %d", dlq.MaxConcurrency, concurrency)
			}
			return e.replayMany(cmd, f, concurrency, asJSON)
		},
	}
	fl := cmd.Flags()
	ff.register(fl, "with --all: ", "how many to replay, the newest first")
	fl.BoolVar(&all, "all", false, "replay every dead letter the filters select, instead of one ID")
	fl.IntVar(&concurrency, "concurrency", dlq.DefaultConcurrency, "with --all: replays in flight at a time, at most "+strconv.Itoa(dlq.MaxConcurrency))
	fl.BoolVar(&asJSON, "json", false, "print one JSON object: {\"replayed\":true,\"message_id\":...}, or with --all the summary")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

// withBus runs fn with NATS (JetStream) and PostgreSQL (a pool of maxConns), for timeout.
func (e *env) withBus(cmd *cobra.Command, maxConns int, timeout time.Duration, fn func(context.Context, *store.DB, jetstream.JetStream) error) error {
	cfg, err := e.load(cmd)
	if err != nil {
		return err
	}
	// NATS first: its errors must not get the PostgreSQL hints of withDB.
	nc, err := connectNATS(cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	db, err := store.Open(store.Config{URL: cfg.Postgres.URL, MaxConns: maxConns, ConnectTimeout: cfg.Postgres.ConnectTimeout, StatementTimeout: cfg.Postgres.StatementTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return fn(ctx, db, js)
}

// replayOne is dlq replay --tenant T ID.
func (e *env) replayOne(cmd *cobra.Command, tenant, id string, asJSON bool) error {
	return e.withBus(cmd, 2, replayTimeout, func(ctx context.Context, db *store.DB, js jetstream.JetStream) error {
		r, err := dlq.Replay(ctx, db, js, tenant, id)
		switch {
		case errors.Is(err, dlq.ErrNotFound):
			return fmt.Errorf("dead letter %s of tenant %s: not found (see `dispatchhub dlq list --tenant %s`)", id, tenant, tenant)
		case errors.Is(err, dlq.ErrUnavailable):
			return err
		case err != nil:
			return hint(err)
		}
		if asJSON {
			return e.printJSON(struct {
				Done bool `json:"replayed"`
				dlq.Replayed
			}{true, r})
		}
		dup := ""
		if r.Duplicate {
			dup = " (the stream had it already)"
		}
		_, err = fmt.Fprintf(e.stdout, "replayed %s on %s as %s, replay %d%s\n", r.ID, r.Subject, r.MessageID, r.ReplayCount, dup)
		return err
	})
}

// replayMany is dlq replay --tenant T --all: a line of counts and one per failure (or the
// summary in JSON), and an error when some failed.
func (e *env) replayMany(cmd *cobra.Command, f dlq.Filter, concurrency int, asJSON bool) error {
	// One connection per replay in flight, and one to spare.
	return e.withBus(cmd, concurrency+1, replayManyTimeout, func(ctx context.Context, db *store.DB, js jetstream.JetStream) error {
		s, err := dlq.ReplayMany(ctx, db, js, f, concurrency)
		if err != nil {
			return hint(err)
		}
		if asJSON {
			if err := e.printJSON(s); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(e.stdout, "replayed %d of %d dead letters of %s, %d failed\n", s.Replayed, s.Matched, f.Tenant, s.Failed)
			for _, r := range s.Results {
				if r.Err != nil {
					fmt.Fprintf(e.stdout, "failed %s: %s\n", r.ID, strings.ReplaceAll(r.Error, "\n", " "))
				}
			}
		}
		if s.Failed > 0 {
			return fmt.Errorf("%d of %d dead letters not replayed", s.Failed, s.Matched)
		}
		return nil
	})
}

// natsTarget is where the CLI finds NATS: nats.url, or else the client port of the server
// that serve embeds. embedded says which.
func natsTarget(cfg config.Config) (url string, embedded bool, err error) {
	if cfg.NATS.URL != "" {
		return cfg.NATS.URL, false, nil
	}
	if cfg.NATS.Port <= 0 {
		return "", true, fmt.Errorf("nats: no nats.url, and serve's embedded NATS has no fixed client port (nats.port %d): set nats.url, or nats.port on serve and here", cfg.NATS.Port)
	}
	host := cfg.NATS.Host
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(cfg.NATS.Port)), true, nil
}

// connectNATS connects to NATS for one command, failing at once when it does not answer.
func connectNATS(cfg config.Config) (*nats.Conn, error) {
	url, embedded, err := natsTarget(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, nats.Name("dispatchhub-cli"), nats.Timeout(natsConnectTimeout), nats.NoReconnect())
	if err == nil {
		return nc, nil
	}
	if embedded {
		return nil, fmt.Errorf("nats: cannot reach serve's embedded NATS at %s (%v): run this where `dispatchhub serve` runs, or set nats.url", redactURL(url), err)
	}
	return nil, fmt.Errorf("nats: cannot reach %s (%v): check nats.url", redactURL(url), err)
}

// redactURL drops the credentials of NATS URLs (user:password@host).
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			scheme := ""
			if j := strings.Index(u, "://"); j >= 0 && j < at {
				scheme = u[:j+3]
			}
			parts[i] = scheme + "***@" + u[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
