package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/edge"
)

// listDrivers is GET /v1/drivers.
func (a *API) listDrivers(c *fiber.Ctx) error {
	ctx, cancel := requestContext(c)
	defer cancel()
	drivers, err := dispatch.ListDrivers(ctx, a.db, identity(c).Tenant)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"drivers": drivers})
}

// driverJobs is GET /v1/drivers/{id}/jobs?updated_since=: a driver's resync after a
// reconnection. A driver reads its own jobs; dispatchers, ops and services any driver's of
// their tenant. Without updated_since: the open jobs.
func (a *API) driverJobs(c *fiber.Ctx) error {
	id := identity(c)
	driverID := strings.Clone(c.Params("id"))
	if id.Role == auth.RoleDriver && id.Subject != driverID {
		return edge.NewError(fiber.StatusForbidden, "forbidden", "a driver reads its own jobs only")
	}
	if !auth.ValidSubject(driverID) {
		return edge.NewError(fiber.StatusNotFound, "not_found", "not found")
	}
	fe := dispatch.FieldErrors{}
	since := queryTime(c, "updated_since", fe)
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	jobs, err := dispatch.DriverJobs(ctx, a.db, id.Tenant, driverID, since)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(fiber.Map{"jobs": jobs})
}
