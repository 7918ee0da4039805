package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/auth"
)

// SetDispatchDefaults sets the settings the dispatch engine applies to a tenant without its
// own: the engine's defaults with their zero fields filled in. GET and PUT
// /v1/dispatch/settings answer a tenant's settings over them as "effective". Call it before
// the API serves.
func (a *API) SetDispatchDefaults(d dispatch.Settings) { a.dispatchDefaults = d }

// notAssignableMessage says why an order cannot be assigned or taken back, without its id.
func notAssignableMessage(err error) string {
	const msg = "the order cannot be assigned or taken back in its status"
	s := err.Error()
	if i := strings.Index(s, dispatch.ErrNotAssignable.Error()); i >= 0 {
		return msg + s[i+len(dispatch.ErrNotAssignable.Error()):] // " (status picked_up)"
	}
	return msg
}

// assignRequest is the body of POST /v1/orders/{id}/assign.
type assignRequest struct {
	DriverID string `json:"driver_id"`
}

// assignOrder is POST /v1/orders/{id}/assign {"driver_id": "..."}: a dispatcher gives the order
// to a driver, who has the job at once.
func (a *API) assignOrder(c *fiber.Ctx) error {
	body, err := readBody(c, false)
	if err != nil {
		return fail(c, err)
	}
	var req assignRequest
	fe := dispatch.FieldErrors{}
	if body != nil && !decodeStrict(body, &req, "", fe) {
		return invalid(c, fe)
	}
	switch {
	case req.DriverID == "":
		fe["driver_id"] = "required"
	case !auth.ValidSubject(req.DriverID):
		fe["driver_id"] = "must be 1-64 of A-Z, a-z, 0-9, '_' and '-'"
	}
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	o, err := dispatch.AssignByHand(ctx, a.db, id.Tenant, strings.Clone(c.Params("id")), strings.Clone(req.DriverID), actor(id))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(o)
}

// unassignOrder is POST /v1/orders/{id}/unassign: a dispatcher takes the order back from its
// driver (and withdraws its open offers); the order is pending again. No body, or {}.
func (a *API) unassignOrder(c *fiber.Ctx) error {
	body, err := readBody(c, false)
	if err != nil {
		return fail(c, err)
	}
	if body != nil {
		fe := dispatch.FieldErrors{}
		if !decodeStrict(body, &struct{}{}, "", fe) {
			return invalid(c, fe)
		}
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	o, err := dispatch.Unassign(ctx, a.db, id.Tenant, strings.Clone(c.Params("id")), actor(id))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(o)
}

// orderDecisions is GET /v1/orders/{id}/decisions: the engine's and the dispatchers'
// decisions about the order, oldest first.
func (a *API) orderDecisions(c *fiber.Ctx) error {
	ctx, cancel := requestContext(c)
	defer cancel()
	list, err := dispatch.Decisions(ctx, a.db, identity(c).Tenant, strings.Clone(c.Params("id")))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"decisions": list})
}

// settingsAnswer is the answer of GET and PUT /v1/dispatch/settings: the tenant's own
// settings, and them over the engine's defaults.
type settingsAnswer struct {
	Settings  dispatch.Settings `json:"settings"`
	Effective dispatch.Settings `json:"effective"`
}

func (a *API) settingsAnswer(own dispatch.Settings) settingsAnswer {
	return settingsAnswer{Settings: own, Effective: own.WithDefaults(a.dispatchDefaults)}
}

// getDispatchSettings is GET /v1/dispatch/settings.
func (a *API) getDispatchSettings(c *fiber.Ctx) error {
	ctx, cancel := requestContext(c)
	defer cancel()
	own, err := dispatch.TenantSettings(ctx, a.db, identity(c).Tenant)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(a.settingsAnswer(own))
}

// settingsRequest is the body of PUT /v1/dispatch/settings, decoded strictly to name unknown
// fields and wrong types; dispatch.DecodeSettings reads the values.
type settingsRequest struct {
	Strategy        string  `json:"strategy"`
	OfferTimeout    string  `json:"offer_timeout"`
	MaxPickupMeters float64 `json:"max_pickup_distance_m"`
	BroadcastFanout int     `json:"broadcast_fanout"`
	BatchWindow     string  `json:"batch_window"`
}

// settingsKeys are the keys of settingsRequest, which dispatch's errors start with.
var settingsKeys = []string{"strategy", "offer_timeout", "max_pickup_distance_m", "broadcast_fanout", "batch_window"}

// putDispatchSettings is PUT /v1/dispatch/settings: the body replaces the tenant's own settings
// (a key left out takes the engine's default). The engine applies them within its tenant
// refresh.
func (a *API) putDispatchSettings(c *fiber.Ctx) error {
	body, err := readBody(c, true)
	if err != nil {
		return fail(c, err)
	}
	fe := dispatch.FieldErrors{}
	if !decodeStrict(body, &settingsRequest{}, "", fe) {
		return invalid(c, fe)
	}
	s, err := dispatch.DecodeSettings(body)
	if err != nil {
		return invalid(c, settingsErrors(err))
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	if err := dispatch.SetTenantSettings(ctx, a.db, id.Tenant, s); err != nil {
		return fail(c, err)
	}
	a.log.Info().Str("tenant", id.Tenant).Str("by", actor(id)).Msg("dispatch settings replaced")
	return c.JSON(a.settingsAnswer(s))
}

// settingsErrors turns an error of dispatch.DecodeSettings ("offer_timeout: ...", several
// joined) into field errors by key; what names no key is the body's.
func settingsErrors(err error) dispatch.FieldErrors {
	fe := dispatch.FieldErrors{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		msg := err.Error()
		for _, k := range settingsKeys {
			if rest, ok := strings.CutPrefix(msg, k+": "); ok {
				fe[k] = rest
				return
			}
		}
		fe["body"] = msg
	}
	walk(err)
	return fe
}
