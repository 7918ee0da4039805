package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/dispatch"
)

// createOrder is POST /v1/orders: 201 with a new order, 200 with the order that has the
// same external reference already.
func (a *API) createOrder(c *fiber.Ctx) error {
	body, err := readBody(c, true)
	if err != nil {
		return fail(c, err)
	}
	in, fe := decodeOrder(body)
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	id := identity(c)
	in.Actor = actor(id)
	ctx, cancel := requestContext(c)
	defer cancel()
	o, created, err := dispatch.CreateOrder(ctx, a.db, id.Tenant, in)
	if err != nil {
		return fail(c, err)
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	c.Location("/v1/orders/" + o.ID)
	return c.Status(status).JSON(o)
}

// orderList is the answer of GET /v1/orders.
type orderList struct {
	Orders     []dispatch.Order `json:"orders"`
	NextCursor string           `json:"next_cursor"` // empty after the last page
}

// listOrders is GET /v1/orders?status=&updated_since=&cursor=&limit=.
func (a *API) listOrders(c *fiber.Ctx) error {
	fe := dispatch.FieldErrors{}
	f := dispatch.ListFilter{Cursor: strings.Clone(c.Query("cursor"))}
	if s := c.Query("status"); s != "" {
		if f.Status = dispatch.Status(strings.Clone(s)); !f.Status.Valid() {
			fe["status"] = "must be one of pending, offered, assigned, picked_up, delivered, failed, cancelled"
		}
	}
	f.UpdatedSince = queryTime(c, "updated_since", fe)
	f.Limit = queryLimit(c, dispatch.MaxListLimit, fe)
	if len(fe) > 0 {
		return invalid(c, fe)
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	orders, next, err := dispatch.ListOrders(ctx, a.db, identity(c).Tenant, f)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(orderList{Orders: orders, NextCursor: next})
}

// orderWithHistory is the answer of GET /v1/orders/{id}.
type orderWithHistory struct {
	dispatch.Order
	History []dispatch.HistoryEntry `json:"history"`
}

// getOrder is GET /v1/orders/{id}: the order and its audit log.
func (a *API) getOrder(c *fiber.Ctx) error {
	orderID := strings.Clone(c.Params("id"))
	tenant := identity(c).Tenant
	ctx, cancel := requestContext(c)
	defer cancel()
	o, err := dispatch.GetOrder(ctx, a.db, tenant, orderID)
	if err != nil {
		return fail(c, err)
	}
	h, err := dispatch.OrderHistory(ctx, a.db, tenant, orderID)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(orderWithHistory{Order: o, History: h})
}

// cancelOrder is POST /v1/orders/{id}/cancel {"reason": "..."} (the body is optional).
func (a *API) cancelOrder(c *fiber.Ctx) error {
	body, err := readBody(c, false)
	if err != nil {
		return fail(c, err)
	}
	var req cancelRequest
	if body != nil {
		fe := dispatch.FieldErrors{}
		if !decodeStrict(body, &req, "", fe) {
			return invalid(c, fe)
		}
	}
	id := identity(c)
	ctx, cancel := requestContext(c)
	defer cancel()
	o, err := dispatch.CancelOrder(ctx, a.db, id.Tenant, strings.Clone(c.Params("id")), req.Reason, actor(id))
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(o)
}
