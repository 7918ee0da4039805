// Package outbox is the transactional outbox: a domain event is written in the same
// PostgreSQL transaction as the business change it describes, and a relay later publishes it
// to the EVENTS stream with Nats-Msg-Id = the event's id. A crash between the commit and the
// publish loses nothing; consumers de-duplicate by id.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Event is a domain event as it is enqueued and later published.
type Event struct {
	ID            string            `json:"id"`
	Tenant        string            `json:"tenant"`
	Type          string            `json:"type"`
	AggregateType string            `json:"aggregate_type"`
	AggregateID   string            `json:"aggregate_id"`
	Version       int64             `json:"version"`
	OccurredAt    time.Time         `json:"occurred_at"`
	Payload       json.RawMessage   `json:"payload"`
	Headers       map[string]string `json:"headers,omitempty"`
}

// ErrInvalidEvent is an event missing what every consumer relies on.
var ErrInvalidEvent = errors.New("invalid outbox event")

// Enqueue writes e in tx, which must be a tenant transaction (store.WithTenantTx): the row's
// tenant is the transaction's, and row-level security refuses any other. A missing ID is
// generated (UUIDv7, time-ordered) and a zero OccurredAt is now. It returns the event as stored.
func Enqueue(ctx context.Context, tx pgx.Tx, e Event) (Event, error) {
	e, headers, err := prepare(e)
	if err != nil {
		return e, err
	}
	err = tx.QueryRow(ctx, insertEvent+` RETURNING tenant_id`,
		e.ID, e.Type, e.AggregateType, e.AggregateID, e.Version, e.Payload, headers, e.OccurredAt).Scan(&e.Tenant)
	if err != nil {
		return e, fmt.Errorf("enqueue %s %s/%s: %w", e.Type, e.AggregateType, e.AggregateID, err)
	}
	return e, nil
}

// Queue is Enqueue in a store.Pipeline of tenant: the row leaves with the pipeline's next
// round trip, and its error surfaces there.
func Queue(p *store.Pipeline, tenant string, e Event) (Event, error) {
	e, headers, err := prepare(e)
	if err != nil {
		return e, err
	}
	e.Tenant = tenant
	p.Queue(insertEvent, e.ID, e.Type, e.AggregateType, e.AggregateID, e.Version, e.Payload, headers, e.OccurredAt)
	return e, nil
}

// Batch is Enqueue as one statement of b, a batch sent in a tenant transaction; the insert's
// error surfaces when b's results are read. The returned event's Tenant is not set.
func Batch(b *pgx.Batch, e Event) (Event, error) {
	e, headers, err := prepare(e)
	if err != nil {
		return e, err
	}
	b.Queue(insertEvent, e.ID, e.Type, e.AggregateType, e.AggregateID, e.Version, e.Payload, headers, e.OccurredAt)
	return e, nil
}

const insertEvent = `INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, version, payload, headers, occurred_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// prepare checks e and fills in its id and time.
func prepare(e Event) (Event, map[string]string, error) {
	if e.Type == "" || e.AggregateType == "" || e.AggregateID == "" {
		return e, nil, fmt.Errorf("%w: type, aggregate_type and aggregate_id are required", ErrInvalidEvent)
	}
	if len(e.Payload) == 0 {
		e.Payload = json.RawMessage(`{}`)
	} else if !json.Valid(e.Payload) {
		return e, nil, fmt.Errorf("%w: payload is not JSON", ErrInvalidEvent)
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return e, nil, fmt.Errorf("event id: %w", err)
		}
		e.ID = id.String()
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now().UTC()
	}
	headers := e.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return e, headers, nil
}
