package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/store"
)

// deadLetterTenant is the tenant a dead-letter request is about: ?tenant=, by default the
// token's. Only ops may name another tenant.
func deadLetterTenant(c *fiber.Ctx) (string, error) {
	id := identity(c)
	t := c.Query("tenant")
	if t == "" || t == id.Tenant {
		return id.Tenant, nil
	}
	if !store.ValidTenantID(t) {
		return "", dispatch.FieldErrors{"tenant": "must be a tenant id: 1-40 of a-z, 0-9 and '-'"}
	}
	if id.Role != auth.RoleOps {
		return "", edge.NewError(fiber.StatusForbidden, "forbidden", "only ops may name another tenant")
	}
	return strings.Clone(t), nil
}

// deadLetterFilter reads the filter of the dead-letter routes from the query: source,
// platform, replayed, from, to and limit. Bad values are recorded in fe.
func deadLetterFilter(c *fiber.Ctx, tenant string, fe dispatch.FieldErrors) dlq.Filter {
	f := dlq.Filter{Tenant: tenant}
	switch s := c.Query("source"); s {
	case "":
	case dlq.SourceIngest, dlq.SourceOutbound:
		f.Source = strings.Clone(s)
	default:
		fe["source"] = "must be " + dlq.SourceIngest + " or " + dlq.SourceOutbound
	}
	if s := c.Query("platform"); s != "" {
		if f.Platform = strings.Clone(s); !store.ValidPlatform(s) {
			fe["platform"] = "must be 1-40 of a-z, 0-9, '_' and '-'"
		}
	}
	switch c.Query("replayed") {
	case "":
	case "true":
		f.Replayed = new(true)
	case "false":
		f.Replayed = new(false)
	default:
		fe["replayed"] = "must be true or false"
	}
	f.From, f.To = queryTime(c, "from", fe), queryTime(c, "to", fe)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fe["to"] = "must be after from"
	}
	f.Limit = queryLimit(c, dlq.MaxLimit, fe)
	return f
}

// listDeadLetters is GET /v1/dlq?tenant=&source=&platform=&replayed=&from=&to=&limit=, newest
// first.
func (a *API) listDeadLetters(c *fiber.Ctx) error {
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	fe := dispatch.FieldErrors{}
	f := deadLetterFilter(c, tenant, fe)
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	list, err := dlq.List(ctx, a.db, f)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"dead_letters": list})
}

// replayAnswer is the answer of POST /v1/dlq/{id}/replay.
type replayAnswer struct {
	Done bool `json:"replayed"`
	dlq.Replayed
}

// busDown answers a replay while the bus is not connected.
func busDown() error {
	e := edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "the bus is not connected; retry")
	e.RetryAfter = time.Second
	return e
}

// replayDeadLetter is POST /v1/dlq/{id}/replay?tenant=: the message goes back on its subject.
func (a *API) replayDeadLetter(c *fiber.Ctx) error {
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	if a.js == nil {
		return busDown()
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	r, err := dlq.Replay(ctx, a.db, a.js, tenant, strings.Clone(c.Params("id")))
	if err != nil {
		return fail(c, err)
	}
	a.log.Info().Str("tenant", tenant).Str("dead_letter", r.ID).Str("subject", r.Subject).Str("message_id", r.MessageID).
		Int("replay_count", r.ReplayCount).Str("by", actor(id)).Str("by_tenant", id.Tenant).Msg("dead letter replayed")
	return c.JSON(replayAnswer{Done: true, Replayed: r})
}

// replayDeadLetters is POST /v1/dlq/replay?tenant=&source=&platform=&replayed=&from=&to=&limit=
// &concurrency=: every match of the filter (at most limit, the newest first) goes back on its
// subject, concurrency at a time. 200 with the summary, also when some failed: each result
// says what became of its dead letter.
func (a *API) replayDeadLetters(c *fiber.Ctx) error {
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	fe := dispatch.FieldErrors{}
	f := deadLetterFilter(c, tenant, fe)
	concurrency := 0
	if s := c.Query("concurrency"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > dlq.MaxConcurrency {
			fe["concurrency"] = "must be 1-" + strconv.Itoa(dlq.MaxConcurrency)
		}
		concurrency = n
	}
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	if a.js == nil {
		return busDown()
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	s, err := dlq.ReplayMany(ctx, a.db, a.js, f, concurrency)
	if err != nil {
		return fail(c, err)
	}
	for i, r := range s.Results {
		if r.Err == nil {
			a.log.Info().Str("tenant", tenant).Str("dead_letter", r.ID).Str("message_id", r.MessageID).
				Str("by", actor(id)).Str("by_tenant", id.Tenant).Bool("bulk", true).Msg("dead letter replayed")
			continue
		}
		a.log.Warn().Err(r.Err).Str("tenant", tenant).Str("dead_letter", r.ID).Str("by", actor(id)).
			Str("by_tenant", id.Tenant).Msg("dead letter not replayed")
		s.Results[i].Error = replayFailure(r.Err)
	}
	a.log.Info().Str("tenant", tenant).Str("source", f.Source).Str("platform", f.Platform).Int("matched", s.Matched).
		Int("replayed", s.Replayed).Int("failed", s.Failed).Str("by", actor(id)).Str("by_tenant", id.Tenant).
		Msg("dead letters replayed")
	return c.JSON(s)
}

// replayFailure says why one dead letter of a bulk replay was not replayed, in the words of
// fail: the details of an unexpected error go only to the log.
func replayFailure(err error) string {
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		return "not found"
	case errors.Is(err, dlq.ErrInvalid):
		return "this dead letter cannot be replayed: " + err.Error()
	case errors.Is(err, dlq.ErrUnavailable):
		return "the bus did not take the message; retry"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timed out; retry"
	}
	return "internal error"
}
