package edge

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pilotx/dispatchhub/internal/metrics"
)

// requestMetrics counts requests and observes their latency by route template (never by raw
// path, which would explode the label space).
type requestMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help: "Time from request read to response written, by method and route template.", Buckets: metrics.LatencyBuckets,
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being handled.",
		}),
	}
	reg.MustRegister(m.total, m.duration, m.inflight)
	return m
}

func (m *requestMetrics) handle(c *fiber.Ctx) error {
	start := time.Now()
	m.inflight.Inc()
	err := c.Next()
	m.inflight.Dec()
	if c.Locals(delegatedKey{}) != nil {
		return err // the delegate counted it, by its own route
	}
	m.observe(c, start, err)
	return err
}

// handleDelegated counts a delegate's requests (the edge's app keeps them in flight).
func (m *requestMetrics) handleDelegated(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	m.observe(c, start, err)
	return err
}

func (m *requestMetrics) observe(c *fiber.Ctx, start time.Time, err error) {
	status := c.Response().StatusCode()
	if err != nil {
		// The error handler runs after the middleware chain; predict its status.
		status = fiber.StatusInternalServerError
		var e *Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
			status = e.Status
		case errors.As(err, &fe):
			status = fe.Code
		}
	}
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" {
		// No route matched: c.Route() is still the middleware's own "/" route. There is no
		// "/" page, so this cannot hide a real route.
		route = "unmatched"
	}
	method := c.Method()
	m.total.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}
