package bigcommerce

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

func target(s *fakeplatform.Server) connectors.Target {
	return connectors.Target{StoreID: "store-1", ExternalID: "abc123", APIBase: s.URL(), Credential: []byte(s.Credential())}
}

func job(id, order, status string) connectors.Job {
	return connectors.Job{ID: id, Tenant: "t1", Platform: Platform, StoreID: "store-1", OrderID: "o-" + order,
		ExternalRef: order, Status: status, Event: "DeliveryCompleted", DriverID: "d-9",
		Tracking:   connectors.Tracking{Company: "PilotX", Number: "J-1"},
		OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
}

func platformError(t *testing.T, err error) *connectors.PlatformError {
	t.Helper()
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("want a *connectors.PlatformError, got %T: %v", err, err)
	}
	return pe
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status string
		want   int
	}{
		{connectors.StatusAssigned, 9},
		{connectors.StatusPickedUp, 2},
		{connectors.StatusDelivered, 10},
		{connectors.StatusFailed, 12},
		{connectors.StatusCancelled, 5},
	}
	s := fakeplatform.NewBigCommerce(t)
	c := New(Config{})
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			if got, ok := StatusID(tc.status); !ok || got != tc.want {
				t.Fatalf("StatusID(%q) = %d, %v; want %d", tc.status, got, ok, tc.want)
			}
			order := strconv.Itoa(700 + tc.want)
			if err := c.Push(context.Background(), target(s), job("j-"+tc.status, order, tc.status)); err != nil {
				t.Fatal(err)
			}
			if got := fakeplatform.BigCommerceStatusID(s, order); got != tc.want {
				t.Errorf("order status_id %d, want %d", got, tc.want)
			}
			if got, want := s.Applied(order), []string{"status:" + strconv.Itoa(tc.want)}; !slices.Equal(got, want) {
				t.Errorf("effects %q, want %q", got, want)
			}
		})
	}
	if _, ok := StatusID("shipped"); ok {
		t.Error("StatusID accepts a status the hub does not have")
	}
}

func TestSameStatusIsOneRead(t *testing.T) {
	s := fakeplatform.NewBigCommerce(t)
	fakeplatform.SetBigCommerceStatusID(s, "50", StatusShipped)
	if err := New(Config{}).Push(context.Background(), target(s), job("j1", "50", connectors.StatusPickedUp)); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests(); n != 1 {
		t.Fatalf("%d requests, want 1 GET and no PUT", n)
	}
	if e := s.Effects(); len(e) != 0 {
		t.Fatalf("effects %v", e)
	}
}

func TestStaleStatusLeavesTheOrderAlone(t *testing.T) {
	cases := []struct {
		have   int
		status string
		stale  bool
	}{
		{StatusShipped, connectors.StatusAssigned, true},    // a late "assigned" after the pickup
		{StatusCompleted, connectors.StatusPickedUp, true},  // after the delivery
		{StatusCompleted, connectors.StatusCancelled, true}, // a completed order is closed
		{StatusCancelled, connectors.StatusDelivered, true},
		{4, connectors.StatusAssigned, true},   // Refunded
		{14, connectors.StatusFailed, true},    // Partially Refunded
		{11, connectors.StatusPickedUp, false}, // Awaiting Fulfillment: the usual start
		{StatusShipped, connectors.StatusFailed, false},
		{StatusShipped, connectors.StatusCancelled, false},
		{StatusManualVerification, connectors.StatusAssigned, false}, // a new attempt after a failure
		{StatusManualVerification, connectors.StatusDelivered, false},
	}
	for _, tc := range cases {
		want, _ := StatusID(tc.status)
		if got := Stale(tc.have, want); got != tc.stale {
			t.Errorf("Stale(%d, %d) = %v, want %v", tc.have, want, got, tc.stale)
		}
		s := fakeplatform.NewBigCommerce(t)
		fakeplatform.SetBigCommerceStatusID(s, "60", tc.have)
		if err := New(Config{}).Push(context.Background(), target(s), job("j1", "60", tc.status)); err != nil {
			t.Fatal(err)
		}
		if changed := len(s.Effects()) > 0; changed == tc.stale {
			t.Errorf("order at %d, push %s: effects %v", tc.have, tc.status, s.Effects())
		}
	}
}

func TestRateLimitWait(t *testing.T) {
	cases := []struct {
		name       string
		f          fakeplatform.Failure
		retryAfter time.Duration
	}{
		{"reset header only", fakeplatform.Failure{Status: 429}, fakeplatform.BigCommerceResetMs * time.Millisecond},
		{"Retry-After wins", fakeplatform.Failure{Status: 429, RetryAfter: "3"}, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeplatform.NewBigCommerce(t)
			s.Fail(tc.f)
			err := New(Config{}).Push(context.Background(), target(s), job("j1", "5", connectors.StatusDelivered))
			pe := platformError(t, err)
			if pe.Status != 429 || !pe.Throttled || pe.Permanent || pe.RetryAfter != tc.retryAfter {
				t.Fatalf("got %+v, want a throttled 429 waiting %v", pe, tc.retryAfter)
			}
		})
	}
	// Only a 429's reset time is a wait: a 500 carries the header too.
	s := fakeplatform.NewBigCommerce(t)
	s.Fail(fakeplatform.Failure{Status: 500})
	pe := platformError(t, New(Config{}).Push(context.Background(), target(s), job("j1", "5", connectors.StatusDelivered)))
	if pe.RetryAfter != 0 || pe.Permanent || !strings.Contains(pe.Excerpt, `"status":500`) {
		t.Fatalf("500: %+v, want retryable with no wait and BigCommerce's error list", pe)
	}
}

func TestResetWait(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"1500": 1500 * time.Millisecond, " 250 ": 250 * time.Millisecond, "": 0, "-5": 0, "1.5": 0, "abc": 0,
		"99999999999": time.Hour, "9223372036854775807": time.Hour,
	} {
		if got := ResetWait(v); got != want {
			t.Errorf("ResetWait(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestNotFoundIsPermanent(t *testing.T) {
	s := fakeplatform.NewBigCommerce(t)
	s.FailOrder("404", fakeplatform.Failure{Status: http.StatusNotFound})
	err := New(Config{}).Push(context.Background(), target(s), job("j1", "404", connectors.StatusDelivered))
	pe := platformError(t, err)
	if !pe.Permanent || connectors.Retryable(err) || pe.Op != "GET /v2/orders/404" ||
		pe.Excerpt != `[{"message":"The requested resource was not found.","status":404}]` {
		t.Fatalf("got %+v, want a permanent 404 with BigCommerce's error list", pe)
	}
}

func TestCredentialAndJob(t *testing.T) {
	s := fakeplatform.NewBigCommerce(t)
	c := New(Config{})
	tg := target(s)
	tg.Credential = nil
	if err := c.Push(context.Background(), tg, job("j1", "1", connectors.StatusDelivered)); !errors.Is(err, connectors.ErrNoCredential) {
		t.Fatalf("no credential: %v", err)
	}
	for _, j := range []connectors.Job{job("j1", "#1", connectors.StatusDelivered), job("j1", "1", "shipped")} {
		if err := c.Push(context.Background(), target(s), j); !errors.Is(err, connectors.ErrInvalidJob) {
			t.Errorf("job %q %q: %v, want ErrInvalidJob", j.ExternalRef, j.Status, err)
		}
	}
	if s.Requests() != 0 {
		t.Fatalf("%d requests", s.Requests())
	}
	if got := c.DefaultBase(connectors.Target{ExternalID: "abc123"}); got != "https://api.bigcommerce.com/stores/abc123" {
		t.Fatalf("DefaultBase %q", got)
	}
	if err := c.Push(context.Background(), connectors.Target{Credential: []byte("x")}, job("j1", "1", connectors.StatusDelivered)); !errors.Is(err, connectors.ErrNoEndpoint) {
		t.Fatalf("no endpoint: %v", err)
	}
}

func TestStoresPrefixedPath(t *testing.T) {
	// The real base is https://api.bigcommerce.com/stores/{hash}; the fake accepts that prefix.
	s := fakeplatform.NewBigCommerce(t)
	tg := target(s)
	tg.APIBase = s.URL() + "/stores/abc123/"
	if err := New(Config{}).Push(context.Background(), tg, job("j1", "8", connectors.StatusDelivered)); err != nil {
		t.Fatal(err)
	}
	if got := s.Applied("8"); !slices.Equal(got, []string{"status:10"}) {
		t.Fatalf("effects %q", got)
	}
}

func TestDecodeOrder(t *testing.T) {
	b, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OrderStatusID(b); err != nil || got != 11 {
		t.Fatalf("OrderStatusID = %d, %v; want 11 (not a nested status_id)", got, err)
	}
	for _, bad := range []string{``, `[]`, `{"status_id":"2"}`, `{"status_id":2.5}`, `{"status_id":-1}`, `{"status_id":1e300}`, `{"status_id":2`} {
		if _, err := OrderStatusID([]byte(bad)); !errors.Is(err, errUnreadable) {
			t.Errorf("OrderStatusID(%q): %v, want errUnreadable", bad, err)
		}
	}
}
