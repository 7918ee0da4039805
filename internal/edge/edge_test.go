package edge_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
