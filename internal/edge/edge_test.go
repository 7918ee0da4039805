package edge_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/health"
	"github.com/pilotx/dispatchhub/internal/metrics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

func serve(t *testing.T, mount func(*fiber.App)) string {
	t.Helper()
	s := edge.New(edge.Config{
		Addr: "127.0.0.1:0", ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: time.Second,
		BodyLimit: 1024, Concurrency: 64, ReadyzTimeout: time.Second,
	}, zerolog.Nop(), metrics.NewRegistry(), health.NewRegistry())
	mount(s.App())
	require.NoError(t, s.Listen())
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-done)
	})
	return "http://" + s.Addr()
}

func get(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestErrorFormat(t *testing.T) {
	base := serve(t, func(app *fiber.App) {
		app.Get("/limited", func(c *fiber.Ctx) error {
			return &edge.Error{Status: 429, Code: "rate_limited", Message: "slow down", RetryAfter: 1500 * time.Millisecond}
		})
		app.Get("/boom", func(c *fiber.Ctx) error { return errors.New("db password=hunter2 leaked") })
		app.Get("/panic", func(c *fiber.Ctx) error { panic("bug") })
		app.Post("/echo", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
		app.Get("/teapot", func(c *fiber.Ctx) error { return fiber.NewError(418, "short and stout") })
	})

	resp, body := get(t, "GET", base+"/limited", "")
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "rounded up to whole seconds")
	assert.JSONEq(t, `{"error":{"code":"rate_limited","message":"slow down"}}`, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	resp, body = get(t, "GET", base+"/boom", "")
	assert.Equal(t, 500, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"internal","message":"internal error"}}`, body, "internal details never reach the client")

	resp, body = get(t, "GET", base+"/panic", "")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, body, `"code":"internal"`)

	resp, body = get(t, "POST", base+"/echo", strings.Repeat("x", 4096))
	assert.Equal(t, 413, resp.StatusCode)
	assert.Contains(t, body, `"code":"payload_too_large"`)

	resp, body = get(t, "GET", base+"/teapot", "")
	assert.Equal(t, 418, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"error","message":"short and stout"}}`, body)

	resp, body = get(t, "DELETE", base+"/healthz", "")
	assert.Equal(t, 405, resp.StatusCode)
	assert.Contains(t, body, `"code":"method_not_allowed"`)

	resp, body = get(t, "GET", base+"/healthz", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, body)
}

func TestDelegate(t *testing.T) {
	reg := metrics.NewRegistry()
	s := edge.New(edge.Config{
		Addr: "127.0.0.1:0", ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: time.Second,
		BodyLimit: 1024, Concurrency: 64, ReadyzTimeout: time.Second,
	}, zerolog.Nop(), reg, health.NewRegistry())
	s.App().Get("/v1/own", func(c *fiber.Ctx) error { return c.SendString("own") })
	var handler atomic.Pointer[fasthttp.RequestHandler]
	s.Delegate("/v1", func() fasthttp.RequestHandler {
		if h := handler.Load(); h != nil {
			return *h
		}
		return nil
	})
	require.NoError(t, s.Listen())
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.NoError(t, <-done)
	})
	base := "http://" + s.Addr()

	resp, body := get(t, "GET", base+"/v1/things/7", "")
	assert.Equal(t, 503, resp.StatusCode, "not started yet")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, `"code":"unavailable"`)

	d := s.NewDelegate()
	d.Get("/v1/things/:id", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"id": c.Params("id")}) })
	d.Get("/v1/limited", func(c *fiber.Ctx) error { return edge.NewError(429, "rate_limited", "slow down") })
	h := d.Handler()
	handler.Store(&h)

	resp, body = get(t, "GET", base+"/v1/things/7", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"id":"7"}`, body)
	resp, body = get(t, "GET", base+"/v1/limited", "")
	assert.Equal(t, 429, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"rate_limited","message":"slow down"}}`, body, "the edge's error format")
	resp, body = get(t, "GET", base+"/v1/nothing", "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Contains(t, body, `"code":"not_found"`)
	resp, body = get(t, "GET", base+"/v1/own", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "own", body, "the edge's own earlier routes keep their requests")

	mfs, err := reg.Gather()
	require.NoError(t, err)
	routes := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "dispatchhub_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	assert.Equal(t, 1.0, routes["/v1/things/:id"], "counted once, by the delegate's route: %v", routes)
	assert.Equal(t, 1.0, routes["/v1/limited"])
	assert.Equal(t, 1.0, routes["/v1/own"])
	assert.Equal(t, 1.0, routes["/v1"], "the 503 before the delegate existed")
}
