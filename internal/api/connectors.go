package api

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Connectors is what the connector routes need of the running connectors.
type Connectors interface {
	Health(ctx context.Context, tenant string) ([]connectors.Status, error)
	Flags() *connectors.Flags
}

// SetConnectors gives the API the running connectors; without them the connector routes
// answer 503.
func (a *API) SetConnectors(c Connectors) { a.connectors = c }

func (a *API) connectorsOrUnavailable() (Connectors, error) {
	if a.connectors == nil {
		return nil, edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "connectors are not running in this process (connectors.enabled)")
	}
	return a.connectors, nil
}

// listConnectors is GET /v1/connectors[?tenant=]: the tenant's sync with each platform —
// state and "delayed since", backlog and queue lag, breakers, error rate and p95 latency over
// five minutes, flag, dead letters not replayed.
func (a *API) listConnectors(c *fiber.Ctx) error {
	conns, err := a.connectorsOrUnavailable()
	if err != nil {
		return err
	}
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	list, err := conns.Health(ctx, tenant)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"tenant": tenant, "connectors": list})
}

// flagRequest is the body of PUT /v1/connectors/{platform}.
type flagRequest struct {
	Enabled       *bool `json:"enabled"`
	CanaryPercent *int  `json:"canary_percent"`
}

// putConnectorFlag is PUT /v1/connectors/{platform}[?tenant=] {"enabled":bool,
// "canary_percent":0-100}: switches the platform's connector for the tenant. canary_percent
// left out is 100. New statuses follow it at once in this process and within 5 s elsewhere;
// jobs already queued are pushed.
func (a *API) putConnectorFlag(c *fiber.Ctx) error {
	conns, err := a.connectorsOrUnavailable()
	if err != nil {
		return err
	}
	tenant, err := deadLetterTenant(c)
	if err != nil {
		return fail(c, err)
	}
	platform := strings.Clone(c.Params("platform"))
	body, err := readBody(c, true)
	if err != nil {
		return fail(c, err)
	}
	var req flagRequest
	fe := dispatch.FieldErrors{}
	if !store.ValidPlatform(platform) {
		fe["platform"] = "must be 1-40 of a-z, 0-9, '_' and '-'"
	}
	if !decodeStrict(body, &req, "", fe) {
		return invalid(c, fe)
	}
	if req.Enabled == nil {
		fe["enabled"] = "required: true or false"
	}
	fl := connectors.Flag{CanaryPercent: 100}
	if req.CanaryPercent != nil {
		fl.CanaryPercent = *req.CanaryPercent
	}
	if err := fl.Validate(); err != nil {
		fe["canary_percent"] = "must be 0-100"
	}
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	fl.Enabled = *req.Enabled
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	set, err := conns.Flags().Set(ctx, tenant, platform, fl, actor(id))
	if err != nil {
		return fail(c, err)
	}
	a.log.Info().Str("tenant", tenant).Str("platform", platform).Bool("enabled", fl.Enabled).Int("canary_percent", fl.CanaryPercent).
		Str("by", actor(id)).Msg("connector flag set")
	return c.JSON(set)
}
