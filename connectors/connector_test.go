package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/internal/outbox"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"2.5":                           2500 * time.Millisecond,
		" 7 ":                           7 * time.Second,
		"0":                             0,
		"-3":                            0,
		"NaN":                           0,
		"soon":                          0,
		"999999":                        time.Hour,
		"Thu, 26 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Thu, 26 Nov 2026 09:00:00 GMT": 0,
	} {
		assert.Equal(t, want, connectors.ParseRetryAfter(in, now), "%q", in)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.25", "Thu, 26 Nov 2026 10:00:30 GMT", "-1", "1e308", "NaN", "Inf"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		d := connectors.ParseRetryAfter(s, now)
		if d < 0 || d > time.Hour {
			t.Fatalf("%q gives %s, outside 0..1h", s, d)
		}
	})
}

func TestBackoffIsFullJitterUnderACeiling(t *testing.T) {
	base, ceiling := 100*time.Millisecond, 2*time.Second
	for n := 1; n <= 12; n++ {
		limit := min(base<<(n-1), ceiling)
		var top time.Duration
		for range 500 {
			d := connectors.Backoff(n, base, ceiling)
			require.Positive(t, d)
			require.LessOrEqual(t, d, limit, "attempt %d", n)
			top = max(top, d)
		}
		assert.Greater(t, top, limit/2, "attempt %d spreads up to its ceiling", n)
	}
}

func TestPlatformErrors(t *testing.T) {
	for status, permanent := range map[int]bool{400: true, 401: true, 404: true, 409: true, 422: true, 408: false, 429: false, 500: false, 503: false} {
		assert.Equal(t, permanent, connectors.PermanentStatus(status), "%d", status)
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": []string{"3"}}}
	e := connectors.HTTPError("shopify", "graphql", resp, []byte(`{"errors":"Exceeded 2 calls per second"}`))
	assert.True(t, e.Throttled)
	assert.Equal(t, 3*time.Second, e.RetryAfter)
	assert.True(t, connectors.Retryable(e))
	assert.Contains(t, e.Error(), "shopify graphql: HTTP 429: throttled")

	wrapped := fmt.Errorf("push: %w", &connectors.PlatformError{Platform: "woocommerce", Status: 404, Permanent: true})
	assert.False(t, connectors.Retryable(wrapped))
	assert.True(t, connectors.Retryable(&connectors.PlatformError{Platform: "x", Err: context.DeadlineExceeded}))
	assert.False(t, connectors.Retryable(fmt.Errorf("%w: no base", connectors.ErrNoEndpoint)))
	assert.False(t, connectors.Retryable(nil))

	long := make([]byte, 10<<10)
	for i := range long {
		long[i] = 'x'
	}
	long[connectors.ExcerptLimit-1] = 0xC3 // a two-byte rune cut in half at the limit
	long[connectors.ExcerptLimit] = 0xA9
	e = connectors.HTTPError("p", "op", &http.Response{StatusCode: 500, Header: http.Header{}}, long)
	assert.Less(t, len(e.Excerpt), connectors.ExcerptLimit, "clipped on a rune boundary")
}

func TestJobValidate(t *testing.T) {
	j := connectors.Job{ID: "e1", Tenant: "acme", Platform: "shopify", StoreID: "s", OrderID: "o", ExternalRef: "1", Status: connectors.StatusDelivered}
	require.NoError(t, j.Validate())
	bad := j
	bad.StoreID, bad.ExternalRef = "", " "
	err := bad.Validate()
	assert.ErrorIs(t, err, connectors.ErrInvalidJob)
	assert.Contains(t, err.Error(), "missing external_ref, store_id")
	bad = j
	bad.Status = "teleported"
	assert.ErrorContains(t, bad.Validate(), `got "teleported"`)
}

func TestJobOf(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ev := func(typ string, payload string) *outbox.Event {
		return &outbox.Event{ID: "ev-1", Tenant: "acme", Type: typ, AggregateType: "order", AggregateID: "ord-1", OccurredAt: at, Payload: json.RawMessage(payload)}
	}
	j, ok, err := connectors.JobOf(ev("OrderAssigned", `{"store_id":"s-1","external_ref":"1001","job_id":"job-9","driver_id":"d-1"}`), "Pilot X", "https://t.example/{order}/{job}")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, connectors.Job{ID: "ev-1", Tenant: "acme", StoreID: "s-1", OrderID: "ord-1", ExternalRef: "1001", Status: connectors.StatusAssigned,
		Event: "OrderAssigned", DriverID: "d-1", OccurredAt: at,
		Tracking: connectors.Tracking{Company: "Pilot X", Number: "job-9", URL: "https://t.example/ord-1/job-9"}}, j)

	j, ok, err = connectors.JobOf(ev("DeliveryFailed", `{"store_id":"s-1","external_ref":"1","reason":"nobody home"}`), "C", "")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "nobody home", j.Reason)
	assert.Empty(t, j.Tracking.URL)

	for name, e := range map[string]*outbox.Event{
		"not synced":             ev("OrderCreated", `{"store_id":"s-1"}`),
		"no store":               ev("PickedUp", `{"external_ref":"1"}`),
		"store's own cancel":     ev("OrderCancelled", `{"store_id":"s-1","external_ref":"1","origin":"store"}`),
		"not about an order":     {ID: "x", Type: "PickedUp", AggregateType: "driver", Payload: json.RawMessage(`{}`)},
		"connector health event": {ID: "x", Type: "ConnectorDegraded", AggregateType: "connector", Payload: json.RawMessage(`{}`)},
	} {
		_, ok, err := connectors.JobOf(e, "C", "")
		assert.NoError(t, err, name)
		assert.False(t, ok, name)
	}
	j, ok, err = connectors.JobOf(ev("OrderCancelled", `{"store_id":"s-1","external_ref":"1","cancel_reason":"customer asked"}`), "C", "")
	require.NoError(t, err)
	assert.True(t, ok, "a cancellation by the hub is pushed")
	assert.Equal(t, "customer asked", j.Reason)

	_, _, err = connectors.JobOf(ev("PickedUp", `[1,2`), "C", "")
	assert.ErrorIs(t, err, connectors.ErrInvalidJob)
}

func TestFlagIncludes(t *testing.T) {
	assert.False(t, connectors.Flag{Enabled: false, CanaryPercent: 100}.Includes("o"))
	assert.False(t, connectors.Flag{Enabled: true, CanaryPercent: 0}.Includes("o"))
	assert.True(t, connectors.Flag{Enabled: true, CanaryPercent: 100}.Includes("o"))
	in := 0
	f := connectors.Flag{Enabled: true, CanaryPercent: 25}
	for i := range 4000 {
		id := fmt.Sprintf("order-%d", i)
		if f.Includes(id) {
			in++
		}
		assert.Equal(t, f.Includes(id), f.Includes(id), "stable per order")
	}
	assert.InDelta(t, 1000, in, 150, "about a quarter of the orders")
	assert.Error(t, connectors.Flag{CanaryPercent: 101}.Validate())
	assert.Error(t, connectors.Flag{CanaryPercent: -1}.Validate())
}

func TestBanner(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.FixedZone("x", 3600))
	assert.Equal(t, "Shopify sync delayed since 2026-11-26T08:30:00Z", connectors.Banner("shopify", at))
	assert.Equal(t, "WooCommerce sync delayed since 2026-11-26T08:30:00Z", connectors.Banner("woocommerce", at))
	assert.Equal(t, "Tiendanube sync delayed since 2026-11-26T08:30:00Z", connectors.Banner("tiendanube", at))
}

type named string

func (n named) Platform() string                                              { return string(n) }
func (n named) DefaultBase(connectors.Target) string                          { return "" }
func (n named) Push(context.Context, connectors.Target, connectors.Job) error { return nil }

func TestRegistryFallsBack(t *testing.T) {
	reg := connectors.NewRegistry(named("shopify"), named("woocommerce"))
	c, err := reg.For("shopify")
	require.NoError(t, err)
	assert.Equal(t, "shopify", c.Platform())
	_, err = reg.For("tiendanube")
	assert.Error(t, err, "no fallback yet")
	reg.SetFallback(named("webhook"))
	c, err = reg.For("tiendanube")
	require.NoError(t, err)
	assert.Equal(t, "webhook", c.Platform())
	assert.Equal(t, []string{"shopify", "woocommerce"}, reg.Platforms())
	assert.False(t, errors.Is(err, connectors.ErrNoEndpoint))
}
