// Package edge is the HTTP edge of the hub: one Fiber app on one port serving webhooks, the
// REST API, /metrics, /healthz and /readyz. It owns the JSON error format, request limits and
// timeouts, panic recovery and the request metrics; other packages mount their routes on App.
package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/pilotx/dispatchhub/internal/health"
)

// Config configures the edge.
type Config struct {
	Addr           string
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	BodyLimit      int
	Concurrency    int
	ReadyzTimeout  time.Duration
	TrustedProxies []string
}

// Server is the Fiber app and its listener.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	metrics *requestMetrics
	app     *fiber.App
	ln      net.Listener
	checks  *health.Registry
}

// New builds the app with the health and metrics routes. It does not listen yet.
func New(cfg Config, log zerolog.Logger, reg *prometheus.Registry, checks *health.Registry) *Server {
	s := &Server{cfg: cfg, log: log, checks: checks, metrics: newRequestMetrics(reg)}
	s.app = s.newApp()
	s.app.Use(s.metrics.handle)
	s.app.Use(s.recoverer())
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", adapt(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: false})))
	return s
}

// newApp is a Fiber app with the edge's limits, timeouts, proxy trust and error format.
func (s *Server) newApp() *fiber.App {
	cfg := s.cfg
	return fiber.New(fiber.Config{
		AppName:                 "dispatchhub",
		ReadTimeout:             cfg.ReadTimeout,
		WriteTimeout:            cfg.WriteTimeout,
		IdleTimeout:             cfg.IdleTimeout,
		BodyLimit:               cfg.BodyLimit,
		Concurrency:             cfg.Concurrency,
		DisableStartupMessage:   true,
		DisableKeepalive:        false,
		EnableTrustedProxyCheck: len(cfg.TrustedProxies) > 0,
		EnableIPValidation:      true, // c.IP() is the first valid address of X-Forwarded-For
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(cfg.TrustedProxies),
		ErrorHandler:            s.handleError,
		ReadBufferSize:          16 << 10,
	})
}

func (s *Server) recoverer() fiber.Handler {
	return recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			s.log.Error().Str("route", c.Route().Path).Interface("panic", e).Msg("handler panicked")
		},
	})
}

// NewDelegate builds an app for Delegate: the edge's limits, error format and request
// metrics (by the delegate's own route templates).
func (s *Server) NewDelegate() *fiber.App {
	app := s.newApp()
	app.Use(s.metrics.handleDelegated)
	app.Use(s.recoverer())
	return app
}

// Delegate serves every request under prefix with the handler get returns (an app from
// NewDelegate, its Handler()). Routes that components add once the server listens live
// there: Fiber fixes an app's routes when it starts serving. Until get returns a handler,
// requests under prefix are answered 503 "starting". Routes of the edge's own app that
// match first (registered before Delegate) keep their requests.
func (s *Server) Delegate(prefix string, get func() fasthttp.RequestHandler) {
	s.app.Use(prefix, func(c *fiber.Ctx) error {
		h := get()
		if h == nil {
			err := NewError(fiber.StatusServiceUnavailable, "unavailable", "starting; retry")
			err.RetryAfter = time.Second
			return err
		}
		c.Locals(delegatedKey{}, true)
		h(c.Context())
		return nil
	})
}

// delegatedKey marks a request a delegate answered (and counted).
type delegatedKey struct{}

func proxyHeader(trusted []string) string {
	if len(trusted) > 0 {
		return fiber.HeaderXForwardedFor
	}
	return ""
}

func adapt(h http.Handler) fiber.Handler {
	fh := fasthttpadaptor.NewFastHTTPHandler(h)
	return func(c *fiber.Ctx) error {
		fh(c.Context())
		return nil
	}
}

// App is the Fiber app, for mounting routes.
func (s *Server) App() *fiber.App { return s.app }

// Listen binds the listener, so that a taken port fails at once.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Serve serves until Shutdown. It returns nil after a shutdown.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("http: Serve before Listen")
	}
	return s.app.Listener(s.ln)
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends, then closes.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.app.ShutdownWithContext(ctx)
}

func (s *Server) readyz(c *fiber.Ctx) error {
	rep := s.checks.Run(c.UserContext(), s.cfg.ReadyzTimeout)
	if rep.Ready {
		return c.JSON(rep)
	}
	msg := "not ready:"
	for i, f := range rep.Failing {
		if i > 0 {
			msg += ","
		}
		msg += " " + f
	}
	return c.Status(fiber.StatusServiceUnavailable).JSON(struct {
		health.Report
		Error ErrorBody `json:"error"`
	}{rep, ErrorBody{Code: "not_ready", Message: msg}})
}

// ErrorBody is the inside of every error answer: {"error":{"code","message"}}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is an error a handler returns to answer with a given status and code.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, becomes the Retry-After header (seconds).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError builds an Error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

var codes = map[int]string{
	fiber.StatusBadRequest:            "bad_request",
	fiber.StatusUnauthorized:          "unauthorized",
	fiber.StatusForbidden:             "forbidden",
	fiber.StatusNotFound:              "not_found",
	fiber.StatusMethodNotAllowed:      "method_not_allowed",
	fiber.StatusRequestTimeout:        "timeout",
	fiber.StatusConflict:              "conflict",
	fiber.StatusRequestEntityTooLarge: "payload_too_large",
	fiber.StatusUnsupportedMediaType:  "unsupported_media_type",
	fiber.StatusUnprocessableEntity:   "invalid",
	fiber.StatusTooManyRequests:       "rate_limited",
	fiber.StatusInternalServerError:   "internal",
	fiber.StatusServiceUnavailable:    "unavailable",
}

// handleError turns every error into the JSON error format. Internal errors are logged and
// answered without their details.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var e *Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = &Error{Status: fe.Code, Code: codes[fe.Code], Message: fe.Message}
	default:
		s.log.Error().Err(err).Str("method", c.Method()).Str("route", c.Route().Path).Msg("request failed")
		e = &Error{Status: fiber.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	if e.Code == "" {
		e.Code = codes[e.Status]
		if e.Code == "" {
			e.Code = "error"
		}
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	return c.Status(e.Status).JSON(struct {
		Error ErrorBody `json:"error"`
	}{ErrorBody{Code: e.Code, Message: e.Message}})
}
