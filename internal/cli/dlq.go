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

func (e *env) dlqListCmd() *cobra.Command {
	var f dlq.Filter
	var from, to string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --tenant T [--platform P] [--from RFC3339] [--to RFC3339] [--limit N]",
		Short: "List a tenant's dead letters, newest first",
		Long: `List a tenant's dead letters, newest first: when, where from (ingest or outbound),
platform, attempts, replays and the error. --from and --to bound the time they were recorded
(RFC 3339). --json prints one JSON object per line, with the payload (as JSON when it is
JSON, else base64 in payload_base64) and the stored headers.`,
		Example: `  dispatchhub dlq list --tenant acme --platform shopify --from 2025-05-01T00:00:00Z`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTenantFlag(f.Tenant); err != nil {
				return err
			}
			if f.Platform != "" && !store.ValidPlatform(f.Platform) {
				return fmt.Errorf("platform: must be 1-40 of a-z, 0-9, '_' and '-', got %q", f.Platform)
			}
			var err error
			if f.From, err = parseFlagTime("from", from); err != nil {
				return err
			}
			if f.To, err = parseFlagTime("to", to); err != nil {
				return err
			}
			if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
				return fmt.Errorf("to: must be after --from %s, got %s", from, to)
			}
			if f.Limit < 1 || f.Limit > dlq.MaxLimit {
				return fmt.Errorf("limit: must be 1-%d, got %d", dlq.MaxLimit, f.Limit)
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
	fl := cmd.Flags()
	fl.StringVar(&f.Tenant, "tenant", "", "tenant id (required)")
	fl.StringVar(&f.Platform, "platform", "", "only this platform")
	fl.StringVar(&from, "from", "", "recorded at or after this time (RFC 3339)")
	fl.StringVar(&to, "to", "", "recorded before this time (RFC 3339)")
	fl.IntVar(&f.Limit, "limit", dlq.DefaultLimit, "how many to show, at most "+strconv.Itoa(dlq.MaxLimit))
	fl.BoolVar(&asJSON, "json", false, "print one JSON object per dead letter, one per line")
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

func (e *env) dlqReplayCmd() *cobra.Command {
	var tenant string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay --tenant T ID",
		Short: "Publish a dead letter again on its subject (INGEST or OUTBOUND)",
		Long: `Publish a dead letter again on its subject, with its payload and headers, under a new
message id (ID's message id + "/replay-N") so that the stream's de-duplication keeps it; the
consumer de-duplicates by the payload's own id. The dead letter is then marked replayed.

NATS: nats.url when set (a cluster). Otherwise the hub runs NATS embedded in serve, and this
command connects to serve's client port (nats.host, nats.port): run it where serve runs, or
set nats.url.`,
		Example: `  dispatchhub dlq replay --tenant acme 0b7c6c1e-1d0e-4c4a-9b8e-2f0d3c2a1b9f`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTenantFlag(tenant); err != nil {
				return err
			}
			id := args[0]
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
			db, err := store.Open(store.Config{URL: cfg.Postgres.URL, MaxConns: 2, ConnectTimeout: cfg.Postgres.ConnectTimeout, StatementTimeout: cfg.Postgres.StatementTimeout})
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
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
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: {\"replayed\":true,\"message_id\":...}")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
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
