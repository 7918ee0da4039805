package squarespace_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/connectors/squarespace"
)

func job(id, status string) connectors.Job {
	return connectors.Job{ID: id, Tenant: "acme", Platform: squarespace.Platform, StoreID: "store-1", OrderID: "order-1",
		ExternalRef: order(1), Status: status, DriverID: "drv-1",
		Tracking:   connectors.Tracking{Company: "Pilot X", Number: "trk-" + id, URL: "https://track.example/trk-" + id},
		OccurredAt: time.Date(2025, 3, 7, 15, 50, 0, 0, time.FixedZone("CET", 3600))}
}

func target(fake *fakeplatform.Server, base string) connectors.Target {
	if base == "" {
		base = fake.URL()
	}
	return connectors.Target{StoreID: "store-1", ExternalID: "site-1", APIBase: base, Credential: []byte(fake.Credential())}
}

// interpose runs a server in front of fake: intercept sees every request first and may answer
// it itself (true); next forwards a request to the fake.
func interpose(t *testing.T, fake *fakeplatform.Server, intercept func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) string {
	t.Helper()
	u, err := url.Parse(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r, proxy) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFulfilmentRequest(t *testing.T) {
	fake := fakeplatform.NewSquarespace(t)
	var mu sync.Mutex
	var header http.Header
	var path string
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		header, path = r.Header.Clone(), r.Method+" "+r.URL.Path
		return false
	})
	j := job("0b6f1f8e-2a4c-4e0e-9f3b-5d7a1c2e3f40", connectors.StatusPickedUp)
	if err := squarespace.New(squarespace.Config{}).Push(t.Context(), target(fake, base), j); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "POST /1.0/commerce/orders/" + order(1) + "/fulfillments"; path != want {
		t.Errorf("request %q, want %q", path, want)
	}
	for name, want := range map[string]string{"Idempotency-Key": j.ID, "User-Agent": "dispatchhub",
		"Authorization": "Bearer " + fake.Credential(), "Content-Type": "application/json"} {
		if got := header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	o := fakeplatform.SquarespaceOrderState(fake, order(1))
	want := []fakeplatform.SquarespaceShipment{{ShipDate: "2025-03-07T14:50:00Z", CarrierName: "Pilot X",
		Service: "local delivery", TrackingNumber: j.Tracking.Number, TrackingURL: j.Tracking.URL}}
	if o.FulfillmentStatus != "FULFILLED" || !o.Notified || !slices.Equal(o.Shipments, want) {
		t.Errorf("order %+v, want FULFILLED, notified, shipments %+v", o, want)
	}
}

func TestFulfilmentWithoutTracking(t *testing.T) {
	fake := fakeplatform.NewSquarespace(t)
	j := job("j1", connectors.StatusPickedUp)
	j.Tracking = connectors.Tracking{}
	if err := squarespace.New(squarespace.Config{}).Push(t.Context(), target(fake, ""), j); err != nil {
		t.Fatal(err)
	}
	if o := fakeplatform.SquarespaceOrderState(fake, order(1)); o.FulfillmentStatus != "FULFILLED" || len(o.Shipments) != 0 {
		t.Errorf("order %+v, want FULFILLED without shipments", o)
	}
}

// An order fulfilled already under another key answers 409: the status is there, Push is done.
func TestAlreadyFulfilledIsSuccess(t *testing.T) {
	fake := fakeplatform.NewSquarespace(t)
	var mu sync.Mutex
	var statuses []int
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		mu.Lock()
		statuses = append(statuses, rec.Code)
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return true
	})
	c := squarespace.New(squarespace.Config{})
	for _, id := range []string{"j1", "j2"} {
		if err := c.Push(t.Context(), target(fake, base), job(id, connectors.StatusPickedUp)); err != nil {
			t.Fatalf("push %s: %v", id, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(statuses, []int{http.StatusNoContent, http.StatusConflict}) {
		t.Errorf("answers %v, want 204 then 409", statuses)
	}
	if got := fake.Applied(order(1)); len(got) != 1 || fake.Duplicates() != 0 {
		t.Errorf("effects %v, duplicates %d; want one fulfilment", got, fake.Duplicates())
	}
}

// The answer to a fulfilment is lost: the retry carries the same Idempotency-Key and is
// answered with the first answer, without fulfilling twice.
func TestLostAnswerReplayedByIdempotencyKey(t *testing.T) {
	fake := fakeplatform.NewSquarespace(t)
	var once sync.Once
	var mu sync.Mutex
	var keys []string
	var answers []int
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		lost := false
		once.Do(func() { lost = true })
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		answers = append(answers, rec.Code)
		mu.Unlock()
		if lost {
			w.WriteHeader(http.StatusBadGateway)
		} else {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		}
		return true
	})
	c := squarespace.New(squarespace.Config{})
	j := job("j1", connectors.StatusPickedUp)
	err := c.Push(t.Context(), target(fake, base), j)
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway || !connectors.Retryable(err) {
		t.Fatalf("push with a lost answer: %v, want a retryable 502", err)
	}
	if err := c.Push(t.Context(), target(fake, base), j); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := fake.Applied(order(1)); len(got) != 1 || fake.Duplicates() != 0 || fake.Requests() != 2 {
		t.Errorf("effects %v, duplicates %d, requests %d; want one fulfilment in two requests", got, fake.Duplicates(), fake.Requests())
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(keys, []string{j.ID, j.ID}) || !slices.Equal(answers, []int{http.StatusNoContent, http.StatusNoContent}) {
		t.Errorf("Idempotency-Keys %q answered %v; want the job id twice, the first answer (204) replayed", keys, answers)
	}
}

func TestOtherStatusesSendNothing(t *testing.T) {
	fake := fakeplatform.NewSquarespace(t)
	c := squarespace.New(squarespace.Config{})
	tgt := target(fake, "")
	tgt.Credential = nil // a no-op needs no credential
	for _, status := range []string{connectors.StatusAssigned, connectors.StatusDelivered, connectors.StatusFailed, connectors.StatusCancelled} {
		if err := c.Push(t.Context(), tgt, job("j-"+status, status)); err != nil {
			t.Errorf("push %s: %v", status, err)
		}
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
	if err := c.Push(t.Context(), tgt, job("j1", "shipped")); !errors.Is(err, connectors.ErrInvalidJob) {
		t.Errorf("invalid status: %v, want ErrInvalidJob", err)
	}
}

func TestDefaultBase(t *testing.T) {
	if got := squarespace.New(squarespace.Config{}).DefaultBase(connectors.Target{ExternalID: "site-1"}); got != "https://api.squarespace.com" {
		t.Errorf("DefaultBase = %q", got)
	}
}
