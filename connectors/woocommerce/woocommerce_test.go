package woocommerce

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

func target(s *fakeplatform.Server) connectors.Target {
	return connectors.Target{StoreID: "store-1", ExternalID: "shop.example", APIBase: s.URL(), Credential: []byte(s.Credential())}
}

func job(id, order, status string) connectors.Job {
	return connectors.Job{ID: id, Tenant: "t1", Platform: Platform, StoreID: "store-1", OrderID: "o-" + order,
		ExternalRef: order, Status: status, Event: "DeliveryCompleted", DriverID: "d-9",
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

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status, want string
		effects      []string
	}{
		// A new order is "processing" already: assigned and picked_up only add their note.
		{connectors.StatusAssigned, "processing", []string{"note:j-assigned"}},
		{connectors.StatusPickedUp, "processing", []string{"note:j-picked_up"}},
		{connectors.StatusDelivered, "completed", []string{"status:completed", "note:j-delivered"}},
		{connectors.StatusFailed, "failed", []string{"status:failed", "note:j-failed"}},
		{connectors.StatusCancelled, "cancelled", []string{"status:cancelled", "note:j-cancelled"}},
	}
	s := fakeplatform.NewWooCommerce(t)
	c := New(Config{})
	for i, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			if got, ok := Status(tc.status); !ok || got != tc.want {
				t.Fatalf("Status(%q) = %q, %v; want %q", tc.status, got, ok, tc.want)
			}
			order := string(rune('1'+i)) + "00"
			if err := c.Push(context.Background(), target(s), job("j-"+tc.status, order, tc.status)); err != nil {
				t.Fatal(err)
			}
			if got := fakeplatform.WooCommerceOrderStatus(s, order); got != tc.want {
				t.Errorf("order status %q, want %q", got, tc.want)
			}
			if got := s.Applied(order); !slices.Equal(got, tc.effects) {
				t.Errorf("effects %q, want %q", got, tc.effects)
			}
		})
	}
	if _, ok := Status("shipped"); ok {
		t.Error("Status accepts a status the hub does not have")
	}
}

func TestStatusLeftAloneWhenItIsAlreadySet(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	fakeplatform.SetWooCommerceOrderStatus(s, "42", "completed")
	if err := New(Config{}).Push(context.Background(), target(s), job("j1", "42", connectors.StatusDelivered)); err != nil {
		t.Fatal(err)
	}
	if got := s.Applied("42"); !slices.Equal(got, []string{"note:j1"}) {
		t.Fatalf("effects %q, want only the note", got)
	}
	if n := s.Requests(); n != 3 {
		t.Fatalf("%d requests, want 3 (GET notes, GET order, POST note): no PUT", n)
	}
}

// afterPut calls fn once a PUT has had its answer: the request went through to the real
// server, and the server fails from then on.
type afterPut struct {
	next http.RoundTripper
	fn   func()
}

func (a afterPut) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(r)
	if r.Method == http.MethodPut {
		a.fn()
	}
	return resp, err
}

func TestClosedOrderIsNotReopened(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	fakeplatform.SetWooCommerceOrderStatus(s, "43", "completed")
	if err := New(Config{}).Push(context.Background(), target(s), job("late-assign", "43", connectors.StatusAssigned)); err != nil {
		t.Fatal(err)
	}
	if got := fakeplatform.WooCommerceOrderStatus(s, "43"); got != "completed" {
		t.Fatalf("a late assigned took the completed order to %q", got)
	}
	if got := s.Applied("43"); !slices.Equal(got, []string{"note:late-assign"}) {
		t.Fatalf("effects %q, want only the note", got)
	}
	for _, st := range []string{"completed", "cancelled", "refunded", "trash"} {
		if !Closed(st) {
			t.Errorf("Closed(%q) = false", st)
		}
	}
	for _, st := range []string{"pending", "processing", "on-hold", "failed"} {
		if Closed(st) {
			t.Errorf("Closed(%q) = true", st)
		}
	}
}

func TestReplayedJobIsOneRead(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	c := New(Config{})
	j := job("evt-9", "44", connectors.StatusDelivered)
	if err := c.Push(context.Background(), target(s), j); err != nil {
		t.Fatal(err)
	}
	// The merchant reopens the order; replaying the applied job must not complete it again.
	fakeplatform.SetWooCommerceOrderStatus(s, "44", "processing")
	before := s.Requests()
	if err := c.Push(context.Background(), target(s), j); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests() - before; n != 1 {
		t.Fatalf("replay made %d requests, want 1 (GET notes)", n)
	}
	if got := s.Applied("44"); !slices.Equal(got, []string{"status:completed", "note:evt-9"}) {
		t.Fatalf("effects %q", got)
	}
}

func TestRetryAfterPartialFailureHasNoSecondEffect(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	const order = "501"
	client := &http.Client{Timeout: 5 * time.Second, Transport: afterPut{next: http.DefaultTransport, fn: func() {
		s.FailOrder(order, fakeplatform.Failure{Status: http.StatusServiceUnavailable})
	}}}
	c := New(Config{HTTPClient: client})
	j := job("evt-7", order, connectors.StatusDelivered)

	err := c.Push(context.Background(), target(s), j)
	if pe := platformError(t, err); pe.Status != http.StatusServiceUnavailable || pe.Permanent || !connectors.Retryable(err) {
		t.Fatalf("first push: %v, want a retryable 503", err)
	}
	if got := s.Applied(order); !slices.Equal(got, []string{"status:completed"}) {
		t.Fatalf("after the partial failure: effects %q, want the status only", got)
	}

	s.Recover()
	for range 2 {
		if err := c.Push(context.Background(), target(s), j); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Applied(order); !slices.Equal(got, []string{"status:completed", "note:evt-7"}) {
		t.Fatalf("effects %q, want the status and one note", got)
	}
	if d := s.Duplicates(); d != 0 {
		t.Fatalf("%d duplicate effects", d)
	}
	notes := fakeplatform.WooCommerceNotes(s, order)
	if len(notes) != 2 || !strings.Contains(notes[1], "[dispatchhub:evt-7]") {
		t.Fatalf("notes %q: want the status change and the job's note", notes)
	}
}

func TestNoteOfAnotherJobDoesNotCount(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	c := New(Config{})
	for _, id := range []string{"evt-1", "evt-10"} { // evt-1's marker is not a prefix match of evt-10's
		if err := c.Push(context.Background(), target(s), job(id, "77", connectors.StatusPickedUp)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Applied("77"); !slices.Equal(got, []string{"note:evt-1", "note:evt-10"}) {
		t.Fatalf("effects %q, want a note for each job", got)
	}
}

func TestHostLevelFailures(t *testing.T) {
	cases := []struct {
		name       string
		f          fakeplatform.Failure
		retryAfter time.Duration
		throttled  bool
	}{
		{"429 with Retry-After", fakeplatform.Failure{Status: 429, RetryAfter: "7"}, 7 * time.Second, true},
		{"429 without Retry-After", fakeplatform.Failure{Status: 429}, 0, true},
		{"503 with Retry-After", fakeplatform.Failure{Status: 503, RetryAfter: "120"}, 2 * time.Minute, false},
		{"503 without Retry-After", fakeplatform.Failure{Status: 503}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeplatform.NewWooCommerce(t)
			s.Fail(tc.f)
			err := New(Config{}).Push(context.Background(), target(s), job("j1", "5", connectors.StatusDelivered))
			pe := platformError(t, err)
			if pe.Status != tc.f.Status || pe.RetryAfter != tc.retryAfter || pe.Throttled != tc.throttled || pe.Permanent {
				t.Fatalf("got %+v, want status %d, RetryAfter %v, throttled %v, not permanent", pe, tc.f.Status, tc.retryAfter, tc.throttled)
			}
			if !strings.Contains(pe.Excerpt, "nginx") || pe.Op != "GET /wp-json/wc/v3/orders/5/notes" {
				t.Fatalf("op %q excerpt %q: want the GET and the host's page", pe.Op, pe.Excerpt)
			}
			if len(s.Effects()) != 0 {
				t.Fatalf("effects %v while failing", s.Effects())
			}
		})
	}
}

func TestInvalidOrderIsPermanent(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	s.FailOrder("404", fakeplatform.Failure{Status: http.StatusNotFound})
	err := New(Config{}).Push(context.Background(), target(s), job("j1", "404", connectors.StatusDelivered))
	pe := platformError(t, err)
	if !pe.Permanent || connectors.Retryable(err) || !strings.Contains(pe.Excerpt, "woocommerce_rest_shop_order_invalid_id") {
		t.Fatalf("got %+v, want a permanent 404 with WooCommerce's code", pe)
	}
}

func TestCredentials(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	c := New(Config{})
	j := job("j1", "9", connectors.StatusDelivered)
	for _, cred := range []string{"", "ck_only", ":cs_only", "ck_only:"} {
		tg := target(s)
		tg.Credential = []byte(cred)
		err := c.Push(context.Background(), tg, j)
		if !errors.Is(err, connectors.ErrNoCredential) {
			t.Errorf("credential %q: %v, want ErrNoCredential", cred, err)
		}
		if cred != "" && strings.Contains(err.Error(), cred) {
			t.Errorf("the error shows the credential: %v", err)
		}
	}
	if s.Requests() != 0 {
		t.Fatalf("%d requests without a usable credential", s.Requests())
	}
	tg := target(s)
	tg.Credential = []byte("ck_wrong:cs_wrong")
	err := c.Push(context.Background(), tg, j)
	if pe := platformError(t, err); pe.Status != http.StatusUnauthorized || !pe.Permanent {
		t.Fatalf("wrong credential: %v, want a permanent 401", err)
	}
}

func TestInvalidJob(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	c := New(Config{})
	for _, j := range []connectors.Job{
		job("j1", "#1001", connectors.StatusDelivered),
		job("j1", "12/notes", connectors.StatusDelivered),
		job("j1", "12", "shipped"),
		job("", "12", connectors.StatusDelivered),
	} {
		if err := c.Push(context.Background(), target(s), j); !errors.Is(err, connectors.ErrInvalidJob) || connectors.Retryable(err) {
			t.Errorf("job %q/%q/%q: %v, want ErrInvalidJob", j.ID, j.ExternalRef, j.Status, err)
		}
	}
	if s.Requests() != 0 {
		t.Fatalf("%d requests for invalid jobs", s.Requests())
	}
}

func TestEndpoint(t *testing.T) {
	c := New(Config{})
	if got := c.DefaultBase(connectors.Target{ExternalID: "shop.example"}); got != "https://shop.example" {
		t.Fatalf("DefaultBase %q", got)
	}
	err := c.Push(context.Background(), connectors.Target{Credential: []byte("ck:cs")}, job("j1", "1", connectors.StatusDelivered))
	if !errors.Is(err, connectors.ErrNoEndpoint) {
		t.Fatalf("no APIBase nor domain: %v, want ErrNoEndpoint", err)
	}
}

func TestDeadlineReturnsPromptly(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	s.Fail(fakeplatform.Failure{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := New(Config{}).Push(ctx, target(s), job("j1", "1", connectors.StatusDelivered))
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("returned after %v", el)
	}
	if pe := platformError(t, err); !errors.Is(err, context.DeadlineExceeded) || pe.Permanent {
		t.Fatalf("%v: want a retryable deadline error", err)
	}
}

func TestUnreadableAnswer(t *testing.T) {
	s := fakeplatform.NewWooCommerce(t)
	s.Fail(fakeplatform.Failure{Status: http.StatusOK, Body: "<html>Maintenance</html>"})
	err := New(Config{}).Push(context.Background(), target(s), job("j1", "1", connectors.StatusDelivered))
	pe := platformError(t, err)
	if pe.Permanent || !errors.Is(err, errUnreadable) || pe.Excerpt != "<html>Maintenance</html>" {
		t.Fatalf("%+v: want a retryable unreadable answer with its excerpt", pe)
	}
}

func TestNoteText(t *testing.T) {
	j := job("evt-3", "1", connectors.StatusPickedUp)
	if got, want := NoteText(j), "Driver d-9 picked up the order. Tracking (PilotX) J-1 https://track.example/J-1 [dispatchhub:evt-3]"; got != want {
		t.Fatalf("NoteText\n got %q\nwant %q", got, want)
	}
	j = job("evt-4", "1", connectors.StatusFailed)
	j.Reason, j.Tracking = "nobody home", connectors.Tracking{}
	if got, want := NoteText(j), "Driver d-9 could not deliver the order: nobody home. [dispatchhub:evt-4]"; got != want {
		t.Fatalf("NoteText\n got %q\nwant %q", got, want)
	}
}

func TestDecodeAnswers(t *testing.T) {
	order, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OrderStatus(order); err != nil || got != "processing" {
		t.Fatalf("OrderStatus = %q, %v; want processing (not a nested status)", got, err)
	}
	notes, err := os.ReadFile("testdata/notes.json")
	if err != nil {
		t.Fatal(err)
	}
	for marker, want := range map[string]bool{"[dispatchhub:evt-01]": true, "[dispatchhub:evt-0]": false, "[dispatchhub:evt-02]": false} {
		if got, err := HasNote(notes, marker); err != nil || got != want {
			t.Errorf("HasNote(%s) = %v, %v; want %v", marker, got, err, want)
		}
	}
	for _, bad := range []string{``, `{}`, `{"status":7}`, `{"status":""}`, `[{"status":"completed"}]`, `{"status":"x"`} {
		if _, err := OrderStatus([]byte(bad)); !errors.Is(err, errUnreadable) {
			t.Errorf("OrderStatus(%q): %v, want errUnreadable", bad, err)
		}
	}
	for _, bad := range []string{``, `{}`, `"[dispatchhub:a]"`, `[{"note":"[dispatchhub:a]"}`} {
		if _, err := HasNote([]byte(bad), "[dispatchhub:a]"); !errors.Is(err, errUnreadable) {
			t.Errorf("HasNote(%q): %v, want errUnreadable", bad, err)
		}
	}
}
