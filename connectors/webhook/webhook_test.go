package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/ingest/verify"
)

func target(s *fakeplatform.Server) connectors.Target {
	return connectors.Target{StoreID: "store-1", APIBase: s.URL() + "/hooks/dispatch", Credential: []byte(s.Credential())}
}

func job(id, status string) connectors.Job {
	return connectors.Job{ID: id, Tenant: "t1", Platform: "acmecart", StoreID: "store-1", OrderID: "o-1",
		ExternalRef: "A-1001", Status: status, Event: "DeliveryCompleted", DriverID: "d-9",
		Tracking:   connectors.Tracking{Company: "PilotX", Number: "J-1", URL: "https://track.example/J-1"},
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

// recorder is a store endpoint that keeps what it receives.
type recorder struct {
	mu   sync.Mutex
	reqs []*verify.Request
}

func (rc *recorder) start(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, &verify.Request{Method: r.Method, URL: "http://" + r.Host + r.URL.RequestURI(),
			Header: r.Header.Clone(), Body: b, Now: time.Now()})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSpecVector(t *testing.T) {
	// The example of the Standard Webhooks specification.
	key, err := SigningKey([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestIngestVerifiesTheDelivery(t *testing.T) {
	var rc recorder
	url := rc.start(t, http.StatusNoContent)
	secret := fakeplatform.WebhookCredential
	j := job("evt-42", connectors.StatusDelivered)
	if err := New(Config{}).Push(context.Background(), connectors.Target{APIBase: url + "/in?store=1", Credential: []byte(secret)}, j); err != nil {
		t.Fatal(err)
	}
	if len(rc.reqs) != 1 {
		t.Fatalf("%d deliveries", len(rc.reqs))
	}
	r := rc.reqs[0]
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	p, ok := verify.Lookup("standardwebhooks")
	if !ok {
		t.Fatal("no standardwebhooks preset")
	}
	res, err := p.Verify(r, verify.Keys{Secrets: [][]byte{[]byte(secret)}}, 0)
	if err != nil {
		t.Fatalf("ingest/verify rejects the delivery: %v", err)
	}
	if res.EventID != "evt-42" || res.EventType != "order.delivered" || !res.BodyAuthenticated {
		t.Fatalf("verify result %+v", res)
	}
	if _, err := p.Verify(r, verify.Keys{Secrets: [][]byte{[]byte("whsec_" + "c2VjcmV0LW9mLWFub3RoZXItc3RvcmU=")}}, 0); !errors.Is(err, verify.ErrBadSignature) {
		t.Fatalf("another store's secret: %v, want ErrBadSignature", err)
	}
	r.Body = bytes.Replace(r.Body, []byte("A-1001"), []byte("A-1002"), 1)
	if _, err := p.Verify(r, verify.Keys{Secrets: [][]byte{[]byte(secret)}}, 0); !errors.Is(err, verify.ErrBadSignature) {
		t.Fatalf("a changed body: %v, want ErrBadSignature", err)
	}
}

func TestBody(t *testing.T) {
	j := job("evt-1", connectors.StatusFailed)
	j.Reason = "nobody home"
	b, err := Body(j)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	want := Event{Type: "order.failed", Timestamp: "2026-11-20T10:00:00Z", Data: EventData{JobID: "evt-1", Tenant: "t1",
		StoreID: "store-1", OrderID: "o-1", ExternalRef: "A-1001", Status: "failed", Event: "DeliveryCompleted",
		DriverID: "d-9", Tracking: j.Tracking, Reason: "nobody home", OccurredAt: j.OccurredAt}}
	if ev != want {
		t.Fatalf("event\n got %+v\nwant %+v", ev, want)
	}
	var raw map[string]map[string]any
	_ = json.Unmarshal(b, &raw)
	var keys []string
	for k := range raw["data"] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"driver_id", "event", "external_ref", "job_id", "occurred_at", "order_id", "reason", "status",
		"store_id", "tenant", "tracking"}; !slices.Equal(keys, want) {
		t.Fatalf("data fields %q, want %q", keys, want)
	}
}

func TestRetryIsTheSameMessage(t *testing.T) {
	var rc recorder
	url := rc.start(t, http.StatusServiceUnavailable)
	now := time.Now()
	c := New(Config{Now: func() time.Time { now = now.Add(7 * time.Second); return now }})
	j := job("evt-5", connectors.StatusPickedUp)
	for range 2 {
		err := c.Push(context.Background(), connectors.Target{APIBase: url, Credential: []byte("raw-secret")}, j)
		if pe := platformError(t, err); pe.Status != 503 || pe.Permanent {
			t.Fatalf("%v, want a retryable 503", err)
		}
	}
	a, b := rc.reqs[0], rc.reqs[1]
	if !bytes.Equal(a.Body, b.Body) || a.Header.Get(HeaderID) != "evt-5" || b.Header.Get(HeaderID) != "evt-5" {
		t.Fatal("a retry is not the same message (id and body)")
	}
	if a.Header.Get(HeaderTimestamp) == b.Header.Get(HeaderTimestamp) {
		t.Fatal("a retry has the first attempt's timestamp")
	}
	// A credential without whsec_ is the raw HMAC key.
	ts := b.Header.Get(HeaderTimestamp)
	if got, want := b.Header.Get(HeaderSignature), Sign([]byte("raw-secret"), "evt-5", ts, b.Body); got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
}

func TestFakeDeduplicates(t *testing.T) {
	s := fakeplatform.NewWebhook(t)
	c := New(Config{})
	j := job("evt-6", connectors.StatusDelivered)
	for range 2 {
		if err := c.Push(context.Background(), target(s), j); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Applied("A-1001"); !slices.Equal(got, []string{"status:delivered"}) || s.Duplicates() != 0 {
		t.Fatalf("effects %q, %d duplicates; want one effect", got, s.Duplicates())
	}
	// A sender that reuses an id for another message is caught.
	j.Reason = "changed"
	if err := c.Push(context.Background(), target(s), j); err != nil {
		t.Fatal(err)
	}
	if s.Duplicates() != 1 {
		t.Fatalf("%d duplicates, want 1 for the same webhook-id with another body", s.Duplicates())
	}
}

func TestRejected(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		cred string
	}{
		{"another secret", Config{}, "whsec_c2VjcmV0LW9mLWFub3RoZXItc3RvcmU="},
		{"raw bytes of the secret", Config{}, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"stale timestamp", Config{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}, fakeplatform.WebhookCredential},
		{"future timestamp", Config{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }}, fakeplatform.WebhookCredential},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeplatform.NewWebhook(t)
			tg := target(s)
			tg.Credential = []byte(tc.cred)
			err := New(tc.cfg).Push(context.Background(), tg, job("evt-7", connectors.StatusDelivered))
			if pe := platformError(t, err); pe.Status != http.StatusUnauthorized || !pe.Permanent {
				t.Fatalf("%v, want a permanent 401", err)
			}
			if len(s.Effects()) != 0 {
				t.Fatalf("effects %v", s.Effects())
			}
		})
	}
}

func TestNoEndpoint(t *testing.T) {
	c := New(Config{})
	if got := c.DefaultBase(connectors.Target{ExternalID: "x"}); got != "" {
		t.Fatalf("DefaultBase %q, want none", got)
	}
	err := c.Push(context.Background(), connectors.Target{Credential: []byte(fakeplatform.WebhookCredential)}, job("evt-8", connectors.StatusDelivered))
	if !errors.Is(err, connectors.ErrNoEndpoint) || connectors.Retryable(err) {
		t.Fatalf("%v, want ErrNoEndpoint, not retryable", err)
	}
}

func TestCredential(t *testing.T) {
	c := New(Config{})
	for _, cred := range []string{"", "whsec_", "whsec_!!not base64!!"} {
		err := c.Push(context.Background(), connectors.Target{APIBase: "http://127.0.0.1:1/", Credential: []byte(cred)}, job("evt-9", connectors.StatusDelivered))
		if !errors.Is(err, connectors.ErrNoCredential) {
			t.Errorf("credential %q: %v, want ErrNoCredential", cred, err)
		}
	}
	for cred, want := range map[string]string{"plain": "plain", "whsec_c2VjcmV0": "secret", "whsec_c2VjcmV0LTE": "secret-1", "whsec_c2VjcmV0LTE=": "secret-1"} {
		if got, err := SigningKey([]byte(cred)); err != nil || string(got) != want {
			t.Errorf("SigningKey(%q) = %q, %v; want %q", cred, got, err, want)
		}
	}
}

func TestRedirectIsAFailure(t *testing.T) {
	var rc recorder
	elsewhere := rc.start(t, http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	err := New(Config{}).Push(context.Background(), connectors.Target{APIBase: srv.URL, Credential: []byte("k")}, job("evt-10", connectors.StatusDelivered))
	if pe := platformError(t, err); pe.Status != http.StatusTemporaryRedirect {
		t.Fatalf("%v, want the 307 as the error", err)
	}
	if len(rc.reqs) != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestDeadline(t *testing.T) {
	s := fakeplatform.NewWebhook(t)
	s.Fail(fakeplatform.Failure{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := New(Config{}).Push(ctx, target(s), job("evt-11", connectors.StatusDelivered))
	if time.Since(start) > 2*time.Second || !errors.Is(err, context.DeadlineExceeded) || !connectors.Retryable(err) {
		t.Fatalf("after %v: %v, want a prompt retryable deadline error", time.Since(start), err)
	}
}

func TestEveryStatusIsAType(t *testing.T) {
	s := fakeplatform.NewWebhook(t)
	c := New(Config{})
	statuses := []string{connectors.StatusAssigned, connectors.StatusPickedUp, connectors.StatusDelivered,
		connectors.StatusFailed, connectors.StatusCancelled}
	for i, st := range statuses {
		if err := c.Push(context.Background(), target(s), job("evt-s"+strconv.Itoa(i), st)); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, st := range statuses {
		want = append(want, "status:"+st)
	}
	if got := s.Applied("A-1001"); !slices.Equal(got, want) {
		t.Fatalf("effects %q, want %q", got, want)
	}
}
