package shopify_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/connectors/shopify"
)

const order = "5450000001"

func job(id, status string) connectors.Job {
	return connectors.Job{ID: id, Tenant: "acme", Platform: shopify.Platform, StoreID: "store-1", OrderID: "order-1",
		ExternalRef: order, Status: status, DriverID: "drv-1",
		Tracking:   connectors.Tracking{Company: "Pilot X", Number: "trk-" + id, URL: "https://track.example/trk-" + id},
		OccurredAt: time.Date(2025, 3, 7, 15, 50, 0, 0, time.UTC)}
}

func target(fake *fakeplatform.Server, base string) connectors.Target {
	if base == "" {
		base = fake.URL()
	}
	return connectors.Target{StoreID: "store-1", ExternalID: "shop-1", APIBase: base, Credential: []byte(fake.Credential())}
}

// operation names the GraphQL operation of a request body (its mutation, else "order").
func operation(body []byte) string {
	for _, op := range []string{"fulfillmentCreate", "fulfillmentTrackingInfoUpdate", "fulfillmentEventCreate", "fulfillmentCancel"} {
		if bytes.Contains(body, []byte(op+"(")) {
			return op
		}
	}
	return "order"
}

// interpose runs a server in front of fake: intercept sees every request first, with its
// operation, and may answer it itself (true); the others go on to the fake. next forwards a
// request to the fake and lets intercept answer something else (a lost answer).
func interpose(t *testing.T, fake *fakeplatform.Server,
	intercept func(w http.ResponseWriter, r *http.Request, op string, next http.Handler) bool) string {
	t.Helper()
	u, err := url.Parse(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !intercept(w, r, operation(body), proxy) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func platformError(t *testing.T, err error) *connectors.PlatformError {
	t.Helper()
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v, want a *connectors.PlatformError", err, err)
	}
	return pe
}

func TestThrottledRetryAfter(t *testing.T) {
	throttled := func(requested, available, rate string) string {
		return `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":` +
			requested + `,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":` +
			available + `,"restoreRate":` + rate + `}}}}`
	}
	for _, tc := range []struct {
		name string
		body string
		want time.Duration
	}{
		{"fake default 252 against 2 at 50/s", "", 5 * time.Second},
		{"rounded up", throttled("101", "0", "50.0"), 3 * time.Second},
		{"exact", throttled("1000", "0", "100.0"), 10 * time.Second},
		{"at least a second", throttled("50", "49.5", "50.0"), time.Second},
		{"bucket full again", throttled("10", "1000", "50.0"), time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeplatform.NewShopify(t)
			fake.Fail(fakeplatform.Failure{Throttled: true, Body: tc.body})
			err := shopify.New(shopify.Config{}).Push(t.Context(), target(fake, ""), job("j1", connectors.StatusAssigned))
			pe := platformError(t, err)
			if !pe.Throttled || pe.Status != http.StatusOK || pe.Permanent || !connectors.Retryable(err) {
				t.Errorf("PlatformError %+v: want throttled, status 200, retryable", pe)
			}
			if pe.RetryAfter != tc.want {
				t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tc.want)
			}
		})
	}
}

func TestReassignmentUpdatesTracking(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	c := shopify.New(shopify.Config{})
	tgt := target(fake, "")
	first, second := job("j1", connectors.StatusAssigned), job("j2", connectors.StatusAssigned)
	for _, j := range []connectors.Job{first, second, second} {
		if err := c.Push(t.Context(), tgt, j); err != nil {
			t.Fatalf("push %s: %v", j.ID, err)
		}
	}
	if got, want := fake.Applied(order), []string{"fulfillment:create", "tracking:update"}; !slices.Equal(got, want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
	fs := fakeplatform.ShopifyFulfillments(fake, order)
	if len(fs) != 1 || !slices.Equal(fs[0].Tracking, []string{second.Tracking.Number}) {
		t.Fatalf("fulfillments %+v, want one carrying %s", fs, second.Tracking.Number)
	}
	// The new driver's pickup goes on the same fulfillment.
	pickup := job("j3", connectors.StatusPickedUp)
	pickup.Tracking = second.Tracking
	if err := c.Push(t.Context(), tgt, pickup); err != nil {
		t.Fatal(err)
	}
	fs = fakeplatform.ShopifyFulfillments(fake, order)
	if len(fs) != 1 || !slices.Equal(fs[0].Events, []string{"IN_TRANSIT"}) {
		t.Fatalf("fulfillments %+v, want one with an IN_TRANSIT event", fs)
	}
	if d := fake.Duplicates(); d != 0 {
		t.Errorf("Duplicates() = %d", d)
	}
}

func TestPartialFailureRetriedWithoutDuplicates(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	var mu sync.Mutex
	calls := map[string]int{}
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, op string, _ http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		calls[op]++
		if op == "fulfillmentEventCreate" && calls[op] == 1 {
			fakeplatform.WriteJSON(w, http.StatusServiceUnavailable, `{"errors":"Service Unavailable"}`)
			return true
		}
		return false
	})
	c := shopify.New(shopify.Config{})
	j := job("j1", connectors.StatusDelivered)
	err := c.Push(t.Context(), target(fake, base), j)
	if pe := platformError(t, err); pe.Status != http.StatusServiceUnavailable || pe.Op != "fulfillmentEventCreate" || !connectors.Retryable(err) {
		t.Fatalf("first push: %v, want a retryable 503 from fulfillmentEventCreate", err)
	}
	if got := fake.Applied(order); !slices.Equal(got, []string{"fulfillment:create"}) {
		t.Fatalf("after the partial failure: effects %v", got)
	}
	for range 2 {
		if err := c.Push(t.Context(), target(fake, base), j); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	if got, want := fake.Applied(order), []string{"fulfillment:create", "event:DELIVERED"}; !slices.Equal(got, want) {
		t.Fatalf("after the retries: effects %v, want %v", got, want)
	}
	mu.Lock()
	creates := calls["fulfillmentCreate"]
	mu.Unlock()
	if creates != 1 || fake.Duplicates() != 0 {
		t.Errorf("fulfillmentCreate called %d times, %d duplicates; want 1, 0", creates, fake.Duplicates())
	}
}

func TestLostAnswerRetriedWithoutDuplicates(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	var once sync.Once
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, op string, next http.Handler) bool {
		lost := false
		if op == "fulfillmentCreate" {
			once.Do(func() { lost = true })
		}
		if !lost {
			return false
		}
		next.ServeHTTP(httptest.NewRecorder(), r) // the shop fulfils, the answer is lost
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	c := shopify.New(shopify.Config{})
	j := job("j1", connectors.StatusAssigned)
	if err := c.Push(t.Context(), target(fake, base), j); err == nil || !connectors.Retryable(err) {
		t.Fatalf("push with a lost answer: %v, want a retryable error", err)
	}
	if err := c.Push(t.Context(), target(fake, base), j); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := fake.Applied(order); !slices.Equal(got, []string{"fulfillment:create"}) || fake.Duplicates() != 0 {
		t.Fatalf("effects %v, duplicates %d; want one fulfillment", got, fake.Duplicates())
	}
}

func TestUserErrorsArePermanent(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	const refusal = `{"data":{"fulfillmentCreate":{"fulfillment":null,"userErrors":[{"field":["fulfillment","lineItemsByFulfillmentOrder"],"message":"Fulfillment order has an unfulfillable status= on_hold."}]}}}`
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, op string, _ http.Handler) bool {
		if op != "fulfillmentCreate" {
			return false
		}
		fakeplatform.WriteJSON(w, http.StatusOK, refusal)
		return true
	})
	err := shopify.New(shopify.Config{}).Push(t.Context(), target(fake, base), job("j1", connectors.StatusPickedUp))
	pe := platformError(t, err)
	if !pe.Permanent || connectors.Retryable(err) || pe.Status != http.StatusOK || pe.Op != "fulfillmentCreate" {
		t.Errorf("PlatformError %+v: want permanent, status 200, op fulfillmentCreate", pe)
	}
	if !strings.Contains(pe.Excerpt, "unfulfillable status= on_hold") {
		t.Errorf("Excerpt %q does not show the userErrors", pe.Excerpt)
	}
}

func TestInternalServerErrorInAnswerIsRetryable(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	fake.Fail(fakeplatform.Failure{Status: http.StatusOK,
		Body: `{"errors":[{"message":"Internal error. Looks like something went wrong on our end.","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`})
	err := shopify.New(shopify.Config{}).Push(t.Context(), target(fake, ""), job("j1", connectors.StatusAssigned))
	if pe := platformError(t, err); pe.Permanent || !connectors.Retryable(err) || pe.Throttled {
		t.Errorf("PlatformError %+v: want retryable, not throttled", pe)
	}
}

func TestCancel(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	c := shopify.New(shopify.Config{})
	tgt := target(fake, "")
	cancel := job("j2", connectors.StatusCancelled)
	if err := c.Push(t.Context(), tgt, cancel); err != nil {
		t.Fatalf("cancel with nothing to cancel: %v", err)
	}
	if n := len(fake.Effects()); n != 0 {
		t.Fatalf("cancel with nothing to cancel: %d effects", n)
	}
	if err := c.Push(t.Context(), tgt, job("j1", connectors.StatusAssigned)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Push(t.Context(), tgt, cancel); err != nil {
			t.Fatalf("cancel: %v", err)
		}
	}
	if got, want := fake.Applied(order), []string{"fulfillment:create", "fulfillment:cancel"}; !slices.Equal(got, want) {
		t.Fatalf("effects %v, want %v", got, want)
	}
	if fs := fakeplatform.ShopifyFulfillments(fake, order); len(fs) != 1 || fs[0].Status != "CANCELLED" {
		t.Fatalf("fulfillments %+v, want one CANCELLED", fs)
	}
}

func TestRequestShape(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	var mu sync.Mutex
	var paths, tokens []string
	base := interpose(t, fake, func(w http.ResponseWriter, r *http.Request, op string, _ http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		tokens = append(tokens, r.Header.Get("X-Shopify-Access-Token"))
		return false
	})
	c := shopify.New(shopify.Config{APIVersion: "2024-10"})
	j := job("j1", connectors.StatusAssigned)
	j.ExternalRef = "gid://shopify/Order/77"
	if err := c.Push(t.Context(), target(fake, base+"/"), j); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 2 || paths[0] != "POST /admin/api/2024-10/graphql.json" || paths[1] != paths[0] {
		t.Errorf("requests %v, want two POST /admin/api/2024-10/graphql.json", paths)
	}
	for _, tok := range tokens {
		if tok != fake.Credential() {
			t.Errorf("X-Shopify-Access-Token %q", tok)
		}
	}
	if got := fake.Applied("77"); !slices.Equal(got, []string{"fulfillment:create"}) {
		t.Errorf("a gid external_ref: effects %v on order 77", got)
	}
}

func TestDefaultBase(t *testing.T) {
	c := shopify.New(shopify.Config{})
	for ext, want := range map[string]string{
		"acme":                "https://acme.myshopify.com",
		"acme.myshopify.com":  "https://acme.myshopify.com",
		"shop.acme.example":   "https://shop.acme.example",
		"":                    "",
		"acme-store-2":        "https://acme-store-2.myshopify.com",
		"checkout.acme.co.uk": "https://checkout.acme.co.uk",
	} {
		if got := c.DefaultBase(connectors.Target{ExternalID: ext}); got != want {
			t.Errorf("DefaultBase(%q) = %q, want %q", ext, got, want)
		}
	}
	if got := shopify.OrderGID("450789469"); got != "gid://shopify/Order/450789469" {
		t.Errorf("OrderGID = %q", got)
	}
	if got := shopify.OrderGID("gid://shopify/Order/1"); got != "gid://shopify/Order/1" {
		t.Errorf("OrderGID(gid) = %q", got)
	}
}

func TestRefusedBeforeAnyRequest(t *testing.T) {
	fake := fakeplatform.NewShopify(t)
	c := shopify.New(shopify.Config{})
	invalid := job("j1", "shipped")
	if err := c.Push(t.Context(), target(fake, ""), invalid); !errors.Is(err, connectors.ErrInvalidJob) || connectors.Retryable(err) {
		t.Errorf("invalid status: %v, want ErrInvalidJob", err)
	}
	noBase := connectors.Target{StoreID: "store-1", Credential: []byte(fake.Credential())}
	if err := c.Push(t.Context(), noBase, job("j1", connectors.StatusAssigned)); !errors.Is(err, connectors.ErrNoEndpoint) {
		t.Errorf("no endpoint: %v, want ErrNoEndpoint", err)
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
