package api

import (
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

// listDeadLetters is GET /v1/dlq?tenant=&platform=&from=&to=&limit=, newest first.
func (a *API) listDeadLetters(c *fiber.Ctx) error {
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	f := dlq.Filter{Tenant: tenant}
	fe := dispatch.FieldErrors{}
	if s := c.Query("platform"); s != "" {
		if f.Platform = strings.Clone(s); !store.ValidPlatform(s) {
			fe["platform"] = "must be 1-40 of a-z, 0-9, '_' and '-'"
		}
	}
	f.From, f.To = queryTime(c, "from", fe), queryTime(c, "to", fe)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fe["to"] = "must be after from"
	}
	f.Limit = queryLimit(c, dlq.MaxLimit, fe)
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

// replayDeadLetter is POST /v1/dlq/{id}/replay?tenant=: the message goes back on its subject.
func (a *API) replayDeadLetter(c *fiber.Ctx) error {
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	if a.js == nil {
		e := edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "the bus is not connected; retry")
		e.RetryAfter = time.Second
		return e
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
