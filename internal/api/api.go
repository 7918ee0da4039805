// Package api is the REST API of the hub: orders (create from phone or console, list, read
// with history, cancel), drivers and their jobs (the resync of a reconnecting driver app) and
// dead letters (list, replay). Every request carries a bearer JWT; each route admits some
// roles, and every handler runs in a transaction bound to the token's tenant, so an id of
// another tenant is not found (404, never 403: existence is not revealed). Only an ops token
// may name another tenant, and only for dead letters.
package api

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Bounds of every request.
const (
	// BodyLimit is the largest request body the API reads.
	BodyLimit = 64 << 10
	// requestTimeout bounds the work of one request (database and bus).
	requestTimeout = 10 * time.Second
)

// API serves the REST routes. Its handlers are safe for concurrent use.
type API struct {
	db       *store.DB
	verifier *auth.Verifier
	js       jetstream.JetStream
	log      zerolog.Logger

	authFailures *prometheus.CounterVec
	// dispatchDefaults are the engine's settings for a tenant without its own
	// (SetDispatchDefaults); empty until set.
	dispatchDefaults dispatch.Settings
	// connectors serve /v1/connectors (SetConnectors); nil when they do not run here.
	connectors Connectors
}

// New builds the API. js may be nil until the bus is up: replays then answer 503.
func New(db *store.DB, verifier *auth.Verifier, js jetstream.JetStream, log zerolog.Logger, reg prometheus.Registerer) *API {
	a := &API{
		db: db, verifier: verifier, js: js,
		log: log.With().Str("component", "api").Logger(),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "api", Name: "auth_failures_total",
			Help: "REST API requests refused for their bearer token, by reason (missing, expired, bad_signature, ...).",
		}, []string{"reason"}),
	}
	reg.MustRegister(a.authFailures)
	return a
}

// Mount adds the routes to app. Authentication is attached to each route, never to a
// prefix, so that the webhook routes under /v1 stay outside it.
func (a *API) Mount(app *fiber.App) {
	var (
		writers = []auth.Role{auth.RoleDispatcher, auth.RoleService}
		readers = []auth.Role{auth.RoleDispatcher, auth.RoleOps, auth.RoleService}
		ops     = []auth.Role{auth.RoleOps, auth.RoleService}
		anyone  = []auth.Role{auth.RoleDriver, auth.RoleDispatcher, auth.RoleOps, auth.RoleService}
	)
	route := func(roles []auth.Role, h fiber.Handler) []fiber.Handler {
		return []fiber.Handler{a.authenticate, allow(roles), h}
	}
	app.Post("/v1/orders", route(writers, a.createOrder)...)
	app.Get("/v1/orders", route(readers, a.listOrders)...)
	app.Get("/v1/orders/:id", route(readers, a.getOrder)...)
	app.Post("/v1/orders/:id/cancel", route(writers, a.cancelOrder)...)
	app.Post("/v1/orders/:id/assign", route(writers, a.assignOrder)...)
	app.Post("/v1/orders/:id/unassign", route(writers, a.unassignOrder)...)
	app.Get("/v1/orders/:id/decisions", route(readers, a.orderDecisions)...)
	app.Get("/v1/dispatch/settings", route(readers, a.getDispatchSettings)...)
	app.Put("/v1/dispatch/settings", route(writers, a.putDispatchSettings)...)
	app.Get("/v1/drivers", route(readers, a.listDrivers)...)
	// A driver reads its own jobs only: driverJobs checks the subject.
	app.Get("/v1/drivers/:id/jobs", route(anyone, a.driverJobs)...)
	app.Get("/v1/connectors", route(readers, a.listConnectors)...)
	app.Put("/v1/connectors/:platform", route([]auth.Role{auth.RoleDispatcher, auth.RoleOps, auth.RoleService}, a.putConnectorFlag)...)
	app.Get("/v1/dlq", route(ops, a.listDeadLetters)...)
	app.Post("/v1/dlq/replay", route(ops, a.replayDeadLetters)...)
	app.Post("/v1/dlq/:id/replay", route(ops, a.replayDeadLetter)...)
}

// identityKey keys the verified identity in the request's locals.
type identityKey struct{}

// identity is who the request's token speaks for (set by authenticate).
func identity(c *fiber.Ctx) auth.Identity {
	id, _ := c.Locals(identityKey{}).(auth.Identity)
	return id
}

// actor names the token's holder in the audit log: "dispatcher:u-7".
func actor(id auth.Identity) string { return string(id.Role) + ":" + id.Subject }

// authenticate verifies the bearer token: 401 unauthorized with the reason of the failure.
func (a *API) authenticate(c *fiber.Ctx) error {
	header := c.Get(fiber.HeaderAuthorization)
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	var err error
	switch {
	case header == "":
		err = auth.ErrMissing
	case !strings.EqualFold(scheme, "Bearer"):
		err = auth.ErrMalformed
	}
	var id auth.Identity
	if err == nil {
		id, err = a.verifier.Verify(strings.TrimSpace(token))
	}
	if err != nil {
		reason := auth.Reason(err)
		a.authFailures.WithLabelValues(reason).Inc()
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="dispatchhub", error="invalid_token"`)
		msg := "bearer token " + reason
		if errors.Is(err, auth.ErrMissing) {
			msg = "missing bearer token (Authorization: Bearer <jwt>)"
		}
		return edge.NewError(fiber.StatusUnauthorized, "unauthorized", msg)
	}
	c.Locals(identityKey{}, id)
	return c.Next()
}

// allow admits the given roles: 403 forbidden for the others.
func allow(roles []auth.Role) fiber.Handler {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	msg := "this route is for the roles " + strings.Join(names, ", ")
	return func(c *fiber.Ctx) error {
		if !slices.Contains(roles, identity(c).Role) {
			return edge.NewError(fiber.StatusForbidden, "forbidden", msg)
		}
		return c.Next()
	}
}

// requestContext bounds a handler's work.
func requestContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), requestTimeout)
}

// fail answers the errors a handler can meet: field errors (400 with "fields"), not found
// (404), too late to cancel, an order that cannot be assigned or taken back, a driver who
// cannot take it or a dead letter that cannot be replayed (409), timeouts and a bus that does
// not answer (503). Anything else is the edge's 500.
func fail(c *fiber.Ctx, err error) error {
	var fe dispatch.FieldErrors
	switch {
	case errors.As(err, &fe):
		return invalid(c, fe)
	case errors.Is(err, dispatch.ErrNotFound), errors.Is(err, dlq.ErrNotFound):
		return edge.NewError(fiber.StatusNotFound, "not_found", "not found")
	case errors.Is(err, dispatch.ErrNotCancellable):
		return edge.NewError(fiber.StatusConflict, "conflict", conflictMessage(err))
	case errors.Is(err, dispatch.ErrNotAssignable):
		return edge.NewError(fiber.StatusConflict, "conflict", notAssignableMessage(err))
	case errors.Is(err, dispatch.ErrDriverUnavailable):
		return edge.NewError(fiber.StatusConflict, "conflict", "the driver cannot take the order: unknown in this tenant, off duty or at capacity")
	case errors.Is(err, dlq.ErrInvalid):
		return edge.NewError(fiber.StatusConflict, "conflict", "this dead letter cannot be replayed: "+err.Error())
	case errors.Is(err, dlq.ErrUnavailable):
		e := edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "the bus did not take the message; retry")
		e.RetryAfter = time.Second
		return e
	case errors.Is(err, context.DeadlineExceeded):
		e := edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "timed out; retry")
		e.RetryAfter = time.Second
		return e
	}
	return err
}

// conflictMessage says why an order cannot be cancelled, without the order id.
func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, dispatch.ErrNotCancellable.Error()); i >= 0 {
		return msg[i:]
	}
	return dispatch.ErrNotCancellable.Error()
}

// invalidBody is the error answer of a validation failure: the edge's error format with the
// bad fields.
type invalidBody struct {
	Error invalidError `json:"error"`
}

type invalidError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// invalid answers 400 {"error":{"code":"invalid","message":...,"fields":{...}}}.
func invalid(c *fiber.Ctx, fields dispatch.FieldErrors) error {
	msg := "invalid request"
	if len(fields) == 1 {
		for k, v := range fields {
			msg = "invalid " + k + ": " + v
		}
	} else if len(fields) > 1 {
		msg = "invalid request: " + strconv.Itoa(len(fields)) + " fields"
	}
	return c.Status(fiber.StatusBadRequest).JSON(invalidBody{Error: invalidError{Code: "invalid", Message: msg, Fields: fields}})
}
