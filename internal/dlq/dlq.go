// Package dlq keeps the dead letters: messages that a consumer (order intake from INGEST, a
// connector from OUTBOUND) could not process after bounded retries, stored in PostgreSQL with
// what is needed to understand them and to replay them. Record writes one in the consumer's
// tenant transaction, List filters them for operators, Replay publishes one again on its
// subject, and ReplayMany replays every match of a filter, a bounded number at a time.
package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Sources of dead letters: which consumer gave up on the message.
const (
	SourceIngest   = "ingest"   // order intake, from the INGEST stream
	SourceOutbound = "outbound" // a connector, from the OUTBOUND stream
)

// Limits.
const (
	DefaultLimit       = 100
	MaxLimit           = 1000
	DefaultConcurrency = 4  // replays in flight in ReplayMany
	MaxConcurrency     = 32 // at most
	maxErrorLen        = 4 << 10
	maxResponseExcerpt = 2 << 10
)

// ReplayOfHeader names, on a replayed message, the dead letter it comes from.
const ReplayOfHeader = "Dispatchhub-Replay-Of"

// Errors.
var (
	ErrNotFound = errors.New("dead letter not found")
	ErrInvalid  = errors.New("invalid dead letter")
	// ErrFilter: a Filter that selects nothing meaningful (a bad source, platform or window).
	ErrFilter = errors.New("invalid dead letter filter")
	// ErrUnavailable: the bus did not take the replay (nothing was marked); retry.
	ErrUnavailable = errors.New("bus unavailable")
)

// DeadLetter is one message a consumer gave up on.
type DeadLetter struct {
	ID              string            `json:"id"`
	Tenant          string            `json:"tenant"`
	Source          string            `json:"source"` // SourceIngest or SourceOutbound
	Platform        string            `json:"platform"`
	Subject         string            `json:"subject"`    // where it was, and where a replay puts it
	MessageID       string            `json:"message_id"` // its original Nats-Msg-Id (or the payload's own id)
	Payload         []byte            `json:"-"`          // as it was on the bus; see MarshalJSON
	Headers         map[string]string `json:"headers"`
	Error           string            `json:"error"`
	Attempts        int               `json:"attempts"`
	LastStatus      int               `json:"last_status,omitempty"`      // outbound: the platform's last HTTP status
	ResponseExcerpt string            `json:"response_excerpt,omitempty"` // outbound: the start of its last answer
	FirstFailedAt   time.Time         `json:"first_failed_at"`
	LastFailedAt    time.Time         `json:"last_failed_at"`
	CreatedAt       time.Time         `json:"created_at"`
	ReplayedAt      *time.Time        `json:"replayed_at,omitempty"`
	ReplayCount     int               `json:"replay_count"`
}

// MarshalJSON writes the payload as JSON ("payload") when it is JSON, else as base64
// ("payload_base64").
func (d DeadLetter) MarshalJSON() ([]byte, error) {
	type plain DeadLetter
	out := struct {
		plain
		Payload       json.RawMessage `json:"payload,omitempty"`
		PayloadBase64 string          `json:"payload_base64,omitempty"`
		PayloadSize   int             `json:"payload_size"`
	}{plain: plain(d), PayloadSize: len(d.Payload)}
	if len(d.Payload) > 0 && json.Valid(d.Payload) {
		out.Payload = d.Payload
	} else if len(d.Payload) > 0 {
		out.PayloadBase64 = base64.StdEncoding.EncodeToString(d.Payload)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *DeadLetter) UnmarshalJSON(b []byte) error {
	type plain DeadLetter
	var in struct {
		plain
		Payload       json.RawMessage `json:"payload"`
		PayloadBase64 string          `json:"payload_base64"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*d = DeadLetter(in.plain)
	switch {
	case len(in.Payload) > 0:
		d.Payload = []byte(in.Payload)
	case in.PayloadBase64 != "":
		p, err := base64.StdEncoding.DecodeString(in.PayloadBase64)
		if err != nil {
			return fmt.Errorf("payload_base64: %w", err)
		}
		d.Payload = p
	}
	return nil
}

// validSubject reports whether s is a NATS subject a message can be published on: dot
// separated tokens, no wildcards, no white space.
func validSubject(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		if strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// subjectTenant is the last token of a subject: {source}.{platform}.{tenant}.
func subjectTenant(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Record inserts d in tx, a tenant transaction (store.WithTenantTx) of the consumer that gives
// up on the message: the dead letter belongs to that tenant, whose id must be the subject's
// last token. A zero first failure is now, a zero last failure the first; the error and the
// response excerpt are clipped.
func Record(ctx context.Context, tx pgx.Tx, d DeadLetter) error {
	switch {
	case d.Source != SourceIngest && d.Source != SourceOutbound:
		return fmt.Errorf("%w: source: must be %s or %s, got %q", ErrInvalid, SourceIngest, SourceOutbound, d.Source)
	case !store.ValidPlatform(d.Platform):
		return fmt.Errorf("%w: platform: must be 1-40 of a-z, 0-9, '_' and '-', got %q", ErrInvalid, d.Platform)
	case !validSubject(d.Subject) || !strings.HasPrefix(d.Subject, d.Source+"."):
		return fmt.Errorf("%w: subject: must be a NATS subject %s.{platform}.{tenant}, got %q", ErrInvalid, d.Source, d.Subject)
	case d.MessageID == "":
		return fmt.Errorf("%w: message id: required", ErrInvalid)
	case d.Attempts < 0:
		return fmt.Errorf("%w: attempts: must not be negative, got %d", ErrInvalid, d.Attempts)
	}
	if d.FirstFailedAt.IsZero() {
		d.FirstFailedAt = time.Now().UTC()
	}
	if d.LastFailedAt.IsZero() {
		d.LastFailedAt = d.FirstFailedAt
	}
	if d.Error == "" {
		d.Error = "unknown error"
	}
	headers := d.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	payload := d.Payload
	if payload == nil {
		payload = []byte{}
	}
	var lastStatus *int
	if d.LastStatus != 0 {
		lastStatus = &d.LastStatus
	}
	var tenant string
	err := tx.QueryRow(ctx, `INSERT INTO dead_letters (source, platform, subject, message_id, payload, headers, error,
			attempts, last_status, response_excerpt, first_failed_at, last_failed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''), $11, $12) RETURNING tenant_id`,
		d.Source, d.Platform, d.Subject, d.MessageID, payload, headers, clip(strings.ToValidUTF8(d.Error, "?"), maxErrorLen),
		d.Attempts, lastStatus, clip(strings.ToValidUTF8(d.ResponseExcerpt, "?"), maxResponseExcerpt),
		d.FirstFailedAt, d.LastFailedAt).Scan(&tenant)
	if err != nil {
		return fmt.Errorf("record dead letter %s: %w", d.MessageID, err)
	}
	if subjectTenant(d.Subject) != tenant {
		// The insert is the caller's to roll back: this error fails its transaction.
		return fmt.Errorf("%w: subject %q is not of tenant %s", ErrInvalid, d.Subject, tenant)
	}
	return nil
}

// Filter selects dead letters for List and ReplayMany.
type Filter struct {
	Tenant   string    // required
	Source   string    // SourceIngest or SourceOutbound; empty: both
	Platform string    // empty: every platform
	Replayed *bool     // true: replayed at least once; false: never replayed; nil: both
	From     time.Time // recorded at or after it; zero: no bound
	To       time.Time // recorded before it; zero: no bound
	Limit    int       // 0: DefaultLimit; at most MaxLimit
}

// Validate checks the fields a caller chose: ErrFilter naming the field and what it accepts.
func (f Filter) Validate() error {
	switch {
	case f.Source != "" && f.Source != SourceIngest && f.Source != SourceOutbound:
		return fmt.Errorf("%w: source: must be %s or %s, got %q", ErrFilter, SourceIngest, SourceOutbound, f.Source)
	case f.Platform != "" && !store.ValidPlatform(f.Platform):
		return fmt.Errorf("%w: platform: must be 1-40 of a-z, 0-9, '_' and '-', got %q", ErrFilter, f.Platform)
	case !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To):
		return fmt.Errorf("%w: from (%s) must be before to (%s)", ErrFilter, f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	}
	return nil
}

const columns = `id::text, tenant_id, source, platform, subject, message_id, payload, headers, error, attempts,
	coalesce(last_status, 0), coalesce(response_excerpt, ''), first_failed_at, last_failed_at, created_at,
	replayed_at, replay_count`

func scan(row pgx.Row) (DeadLetter, error) {
	var d DeadLetter
	var headers []byte
	err := row.Scan(&d.ID, &d.Tenant, &d.Source, &d.Platform, &d.Subject, &d.MessageID, &d.Payload, &headers, &d.Error,
		&d.Attempts, &d.LastStatus, &d.ResponseExcerpt, &d.FirstFailedAt, &d.LastFailedAt, &d.CreatedAt,
		&d.ReplayedAt, &d.ReplayCount)
	if err != nil {
		return d, err
	}
	if d.Headers, err = decodeHeaders(headers); err != nil {
		return d, fmt.Errorf("dead letter %s headers: %w", d.ID, err)
	}
	d.FirstFailedAt, d.LastFailedAt, d.CreatedAt = d.FirstFailedAt.UTC(), d.LastFailedAt.UTC(), d.CreatedAt.UTC()
	if d.ReplayedAt != nil {
		t := d.ReplayedAt.UTC()
		d.ReplayedAt = &t
	}
	return d, nil
}

// decodeHeaders reads the headers column: an object of strings (or of string lists, whose
// first value is kept).
func decodeHeaders(raw []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err == nil && len(list) > 0 {
			out[k] = list[0]
		}
	}
	return out, nil
}

// List returns the tenant's dead letters that match f, newest first.
// ErrFilter when f does not validate.
func List(ctx context.Context, db *store.DB, f Filter) ([]DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Source != "" {
		where = append(where, "source = "+arg(f.Source))
	}
	if f.Platform != "" {
		where = append(where, "platform = "+arg(f.Platform))
	}
	if f.Replayed != nil && *f.Replayed {
		where = append(where, "replayed_at IS NOT NULL")
	} else if f.Replayed != nil {
		where = append(where, "replayed_at IS NULL")
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < "+arg(f.To))
	}
	q := `SELECT ` + columns + ` FROM dead_letters`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit)
	out := []DeadLetter{}
	err := db.WithTenantTx(ctx, f.Tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", f.Tenant, err)
	}
	return out, nil
}

// Get reads one dead letter of tenant. ErrNotFound when there is none.
func Get(ctx context.Context, db *store.DB, tenant, id string) (DeadLetter, error) {
	if !store.ValidUUID(id) {
		return DeadLetter{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var d DeadLetter
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		d, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM dead_letters WHERE id = $1::uuid`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return DeadLetter{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %w", id, err)
	}
	return d, nil
}

// Replayed is what Replay did.
type Replayed struct {
	ID          string    `json:"id"` // the dead letter
	Subject     string    `json:"subject"`
	MessageID   string    `json:"message_id"` // the replay's Nats-Msg-Id
	Stream      string    `json:"stream"`
	Sequence    uint64    `json:"sequence"`
	Duplicate   bool      `json:"duplicate,omitempty"` // the stream had this replay already (a retried replay)
	ReplayCount int       `json:"replay_count"`
	ReplayedAt  time.Time `json:"replayed_at"`
}

// ReplayMessageID is the Nats-Msg-Id of the n-th replay of a message: distinct from the
// original's and from every other replay's, so JetStream's de-duplication window keeps it; the
// consumer de-duplicates by the payload's own id.
func ReplayMessageID(messageID string, n int) string {
	return messageID + "/replay-" + strconv.Itoa(n)
}

// Replay publishes a dead letter of tenant again on its subject, with its payload and stored
// headers (JetStream's own Nats-* headers are dropped), Nats-Msg-Id = ReplayMessageID and
// ReplayOfHeader = its id; then it marks it replayed. The row is locked from the read to the
// mark, so concurrent replays of one dead letter publish one after the other; a replay whose
// mark failed to commit publishes the same message id again when retried, which the stream
// drops as a duplicate. ErrNotFound when there is no such dead letter.
func Replay(ctx context.Context, db *store.DB, js jetstream.JetStream, tenant, id string) (Replayed, error) {
	if !store.ValidUUID(id) {
		return Replayed{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var r Replayed
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		d, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM dead_letters WHERE id = $1::uuid FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if !validSubject(d.Subject) || subjectTenant(d.Subject) != tenant {
			return fmt.Errorf("%w: subject %q is not of tenant %s", ErrInvalid, d.Subject, tenant)
		}
		msg := nats.NewMsg(d.Subject)
		msg.Data = d.Payload
		for k, v := range d.Headers {
			if !strings.HasPrefix(strings.ToLower(k), "nats-") {
				msg.Header.Set(k, v)
			}
		}
		r = Replayed{ID: d.ID, Subject: d.Subject, MessageID: ReplayMessageID(d.MessageID, d.ReplayCount+1)}
		msg.Header.Set(jetstream.MsgIDHeader, r.MessageID)
		msg.Header.Set(ReplayOfHeader, d.ID)
		ack, err := js.PublishMsg(ctx, msg)
		if err != nil {
			return fmt.Errorf("%w: publish on %s: %w", ErrUnavailable, d.Subject, err)
		}
		r.Stream, r.Sequence, r.Duplicate = ack.Stream, ack.Sequence, ack.Duplicate
		if err := tx.QueryRow(ctx, `UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1
			WHERE id = $1::uuid RETURNING replay_count, replayed_at`, id).Scan(&r.ReplayCount, &r.ReplayedAt); err != nil {
			return fmt.Errorf("mark replayed: %w", err)
		}
		r.ReplayedAt = r.ReplayedAt.UTC()
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Replayed{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Replayed{}, fmt.Errorf("replay dead letter %s: %w", id, err)
	}
	return r, nil
}

// ReplayResult is what became of one dead letter in ReplayMany: the replay's message id, or
// the error.
type ReplayResult struct {
	ID        string `json:"id"`
	MessageID string `json:"message_id,omitempty"`
	Error     string `json:"error,omitempty"`
	// Err is the error for errors.Is (ErrUnavailable: the bus did not take it; ErrNotFound:
	// gone since it was listed); nil when replayed.
	Err error `json:"-"`
}

// ReplaySummary is what ReplayMany did: how many dead letters matched, how many were
// replayed and how many failed, and one result per dead letter in the order of List.
type ReplaySummary struct {
	Matched  int            `json:"matched"`
	Replayed int            `json:"replayed"`
	Failed   int            `json:"failed"`
	Results  []ReplayResult `json:"results"`
}

// ReplayMany replays, each through Replay, the dead letters that List returns for f: at most
// f.Limit (0: DefaultLimit; at most MaxLimit), the newest first. At most concurrency replays
// are in flight (0: DefaultConcurrency; at most MaxConcurrency); each takes a connection of
// db's pool for its transaction. A failed replay, ErrUnavailable included, is reported in its
// result and does not stop the others; once ctx ends, the dead letters not yet started fail
// with its error. The error is List's: ErrFilter, or the database's.
//
// A dead letter that matches again is replayed again, under the next replay message id (see
// Replay): the consumer de-duplicates by the payload's own id.
func ReplayMany(ctx context.Context, db *store.DB, js jetstream.JetStream, f Filter, concurrency int) (ReplaySummary, error) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	concurrency = min(concurrency, MaxConcurrency)
	list, err := List(ctx, db, f)
	if err != nil {
		return ReplaySummary{}, err
	}
	results := make([]ReplayResult, len(list))
	var g errgroup.Group // no error cancels the others: each result carries its own
	g.SetLimit(concurrency)
	for i, d := range list {
		results[i].ID = d.ID
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				results[i].Err = fmt.Errorf("not replayed: %w", err)
				return nil
			}
			r, err := Replay(ctx, db, js, f.Tenant, d.ID)
			if err != nil {
				results[i].Err = err
			} else {
				results[i].MessageID = r.MessageID
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil
	s := ReplaySummary{Matched: len(list), Results: results}
	for i := range results {
		if results[i].Err != nil {
			results[i].Error = results[i].Err.Error()
			s.Failed++
		} else {
			s.Replayed++
		}
	}
	return s, nil
}
