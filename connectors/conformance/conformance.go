// Package conformance is the one suite every connector passes: it runs a Connector against its
// fake platform (fakeplatform) and checks the contract of connectors.Connector — a status is
// applied once however often its job is pushed, statuses the platform cannot show are no-ops,
// and every failure of the platform becomes an error that says whether trying again can help.
package conformance

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

// Harness describes one connector to the suite.
type Harness struct {
	Connector connectors.Connector
	Start     func(tb testing.TB) *fakeplatform.Server // a fresh fake for each case
	Supports  []string                                 // statuses the platform can show; the others must be a no-op (nil, no effect, no request needed)
	Order     func(n int) string                       // an external_ref valid on the platform for order n (e.g. Shopify numeric ids)
}

// allStatuses is every status a store can be told about, in lifecycle order.
var allStatuses = []string{connectors.StatusAssigned, connectors.StatusPickedUp, connectors.StatusDelivered,
	connectors.StatusFailed, connectors.StatusCancelled}

// hangBound is how long a Push may take after a 300 ms deadline before the suite calls it a
// hang. It is generous on purpose: it detects a connector that ignores its context, it does not
// time one.
const hangBound = 3 * time.Second

// Run runs every case of the suite against h as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Connector == nil || h.Start == nil || h.Order == nil {
		t.Fatal("conformance: Harness needs Connector, Start and Order")
	}
	if len(h.Supports) == 0 {
		t.Fatal("conformance: Harness.Supports is empty")
	}
	for _, s := range h.Supports {
		if !connectors.ValidStatus(s) {
			t.Fatalf("conformance: Harness.Supports: %q is not a status", s)
		}
	}
	s := suite{h: h}
	t.Run("SupportedStatusAppliedOnce", s.supported)
	t.Run("UnsupportedStatusNoOp", s.unsupported)
	t.Run("Lifecycle", s.lifecycle)
	t.Run("ServerErrorRetryable", s.serverErrors)
	t.Run("RateLimited", s.rateLimited)
	t.Run("ClientErrorPermanent", s.clientErrors)
	t.Run("WrongCredential", s.wrongCredential)
	t.Run("NoCredential", s.noCredential)
	t.Run("HangingPlatform", s.hanging)
	t.Run("SlowPlatform", s.slow)
	t.Run("RecoverAfterOutage", s.recoverAfterOutage)
	t.Run("PoisonOrder", s.poisonOrder)
	t.Run("ConcurrentOrders", s.concurrent)
}

type suite struct{ h Harness }

// start runs a fresh fake and returns it with the store that points at it.
func (s suite) start(t *testing.T) (*fakeplatform.Server, connectors.Target) {
	t.Helper()
	fake := s.h.Start(t)
	return fake, connectors.Target{StoreID: "store-1", ExternalID: "shop-1", APIBase: fake.URL(),
		Credential: []byte(fake.Credential())}
}

// job is a fresh job (a new event id) setting status on order n.
func (s suite) job(status string, n int) connectors.Job {
	id := uuid.NewString()
	return connectors.Job{
		ID: id, Tenant: "acme", Platform: s.h.Connector.Platform(), StoreID: "store-1",
		OrderID: "order-" + strconv.Itoa(n), ExternalRef: s.h.Order(n), Status: status,
		Event: "conformance." + status, DriverID: "drv-1",
		Tracking:   connectors.Tracking{Company: "Pilot X", Number: id, URL: "https://track.example/" + id},
		OccurredAt: time.Now().UTC().Truncate(time.Second),
	}
}

func (s suite) supports(status string) bool { return slices.Contains(s.h.Supports, status) }

// probe is the status the failure cases push: the deepest supported one (delivered when the
// platform shows it), so that a multi-call push is what meets the failure.
func (s suite) probe() string {
	for _, st := range []string{connectors.StatusDelivered, connectors.StatusPickedUp, connectors.StatusAssigned,
		connectors.StatusFailed, connectors.StatusCancelled} {
		if s.supports(st) {
			return st
		}
	}
	return s.h.Supports[0]
}

// prepare brings order n to where status makes sense: a delivery is cancelled after it was
// assigned, so on a platform where cancelling undoes the assignment (Shopify cancels the
// fulfillment) there is something to cancel.
func (s suite) prepare(t *testing.T, tgt connectors.Target, status string, n int) {
	t.Helper()
	if status != connectors.StatusCancelled || !s.supports(connectors.StatusAssigned) {
		return
	}
	if err := s.h.Connector.Push(t.Context(), tgt, s.job(connectors.StatusAssigned, n)); err != nil {
		t.Fatalf("prepare order %d: push assigned: %v", n, err)
	}
}

// reference is how many effects one clean push of status has on a fresh order.
func (s suite) reference(t *testing.T, status string) int {
	t.Helper()
	fake, tgt := s.start(t)
	s.prepare(t, tgt, status, 1)
	before := len(fake.Effects())
	if err := s.h.Connector.Push(t.Context(), tgt, s.job(status, 1)); err != nil {
		t.Fatalf("reference push %s: %v", status, err)
	}
	n := len(fake.Effects()) - before
	if n < 1 {
		t.Fatalf("reference push %s: no effect on the platform", status)
	}
	return n
}

func (s suite) supported(t *testing.T) {
	for _, status := range s.h.Supports {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			fake, tgt := s.start(t)
			s.prepare(t, tgt, status, 1)
			before := len(fake.Effects())
			j := s.job(status, 1)
			if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
				t.Fatalf("first push: %v", err)
			}
			after := len(fake.Effects())
			if after <= before {
				t.Fatalf("first push: no effect on the platform (effects %v)", fake.Applied(j.ExternalRef))
			}
			if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
				t.Fatalf("second push of the same job: %v", err)
			}
			if got := len(fake.Effects()); got != after {
				t.Errorf("second push of the same job: %d new effects, want none (effects %v)", got-after, fake.Applied(j.ExternalRef))
			}
			if d := fake.Duplicates(); d != 0 {
				t.Errorf("Duplicates() = %d, want 0", d)
			}
		})
	}
}

func (s suite) unsupported(t *testing.T) {
	var none []string
	for _, status := range allStatuses {
		if !s.supports(status) {
			none = append(none, status)
		}
	}
	if len(none) == 0 {
		t.Skip("the platform shows every status")
	}
	for _, status := range none {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			fake, tgt := s.start(t)
			j := s.job(status, 1)
			if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
				t.Fatalf("push of unsupported %s: %v, want nil", status, err)
			}
			if e := fake.Effects(); len(e) != 0 {
				t.Errorf("push of unsupported %s: effects %v, want none", status, e)
			}
		})
	}
}

func (s suite) lifecycle(t *testing.T) {
	t.Parallel()
	var steps []string
	for _, st := range []string{connectors.StatusAssigned, connectors.StatusPickedUp, connectors.StatusDelivered} {
		if s.supports(st) {
			steps = append(steps, st)
		}
	}
	if len(steps) == 0 {
		t.Skip("the platform shows none of assigned, picked_up, delivered")
	}
	fake, tgt := s.start(t)
	order := s.h.Order(1)
	jobs := make([]connectors.Job, len(steps))
	var last time.Time
	for i, st := range steps {
		jobs[i] = s.job(st, 1)
		before := len(fake.Effects())
		if err := s.h.Connector.Push(t.Context(), tgt, jobs[i]); err != nil {
			t.Fatalf("push %s: %v", st, err)
		}
		effects := fake.Effects()
		if len(effects) <= before {
			t.Fatalf("push %s: no effect on the platform", st)
		}
		for _, e := range effects[before:] {
			if e.Order != order {
				t.Errorf("push %s: effect %q on order %q, want %q", st, e.What, e.Order, order)
			}
			if e.At.Before(last) {
				t.Errorf("push %s: effect %q applied before the previous step's", st, e.What)
			}
			last = e.At
		}
	}
	applied := len(fake.Effects())
	for _, j := range jobs {
		if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
			t.Fatalf("push %s again: %v", j.Status, err)
		}
	}
	if got := len(fake.Effects()); got != applied {
		t.Errorf("pushing the lifecycle again: %d new effects, want none (effects %v)", got-applied, fake.Applied(order))
	}
	if d := fake.Duplicates(); d != 0 {
		t.Errorf("Duplicates() = %d, want 0", d)
	}
}

// failed pushes the probe status while fake fails with f and returns the PlatformError.
func (s suite) failed(t *testing.T, f fakeplatform.Failure) *connectors.PlatformError {
	t.Helper()
	fake, tgt := s.start(t)
	status := s.probe()
	s.prepare(t, tgt, status, 1)
	before := len(fake.Effects())
	fake.Fail(f)
	err := s.h.Connector.Push(t.Context(), tgt, s.job(status, 1))
	if err == nil {
		t.Fatalf("push while the platform answers %d: nil error", f.Status)
	}
	if got := len(fake.Effects()); got != before {
		t.Errorf("push while the platform answers %d: %d effects, want none", f.Status, got-before)
	}
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("push while the platform answers %d: %T %v, want a *connectors.PlatformError", f.Status, err, err)
	}
	if pe.Status != f.Status {
		t.Errorf("PlatformError.Status = %d, want %d (%v)", pe.Status, f.Status, err)
	}
	return pe
}

func (s suite) serverErrors(t *testing.T) {
	for _, code := range []int{500, 502, 503} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			pe := s.failed(t, fakeplatform.Failure{Status: code})
			if !connectors.Retryable(pe) || pe.Permanent {
				t.Errorf("HTTP %d: Retryable = false (Permanent %v), want a retryable error", code, pe.Permanent)
			}
		})
	}
}

func (s suite) rateLimited(t *testing.T) {
	t.Parallel()
	pe := s.failed(t, fakeplatform.Failure{Status: 429, RetryAfter: "2"})
	if !pe.Throttled {
		t.Error("HTTP 429: Throttled = false")
	}
	if pe.RetryAfter != 2*time.Second {
		t.Errorf("HTTP 429 with Retry-After 2: RetryAfter = %v, want 2s", pe.RetryAfter)
	}
	if !connectors.Retryable(pe) {
		t.Error("HTTP 429: not retryable")
	}
}

func (s suite) clientErrors(t *testing.T) {
	for _, code := range []int{400, 404, 422} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			pe := s.failed(t, fakeplatform.Failure{Status: code})
			if !pe.Permanent || connectors.Retryable(pe) {
				t.Errorf("HTTP %d: Permanent %v, Retryable %v; want a permanent error", code, pe.Permanent, connectors.Retryable(pe))
			}
		})
	}
}

func (s suite) wrongCredential(t *testing.T) {
	t.Parallel()
	fake, tgt := s.start(t)
	wrong := "wrong-" + fake.Credential()
	tgt.Credential = []byte(wrong)
	err := s.h.Connector.Push(t.Context(), tgt, s.job(s.probe(), 1))
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("push with a wrong credential: %T %v, want a *connectors.PlatformError", err, err)
	}
	if pe.Status != 401 || !pe.Permanent || connectors.Retryable(err) {
		t.Errorf("push with a wrong credential: Status %d, Permanent %v; want 401, permanent", pe.Status, pe.Permanent)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Error("the error shows the credential")
	}
	if e := fake.Effects(); len(e) != 0 {
		t.Errorf("push with a wrong credential: effects %v, want none", e)
	}
}

func (s suite) noCredential(t *testing.T) {
	t.Parallel()
	fake, tgt := s.start(t)
	tgt.Credential = nil
	err := s.h.Connector.Push(t.Context(), tgt, s.job(s.probe(), 1))
	if !errors.Is(err, connectors.ErrNoCredential) {
		t.Fatalf("push without a credential: %v, want ErrNoCredential", err)
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("push without a credential sent %d requests, want none", n)
	}
}

func (s suite) hanging(t *testing.T) {
	t.Parallel()
	fake, tgt := s.start(t)
	status := s.probe()
	s.prepare(t, tgt, status, 1)
	fake.Fail(fakeplatform.Failure{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.h.Connector.Push(ctx, tgt, s.job(status, 1)) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("push to a hanging platform: nil error")
		}
		if !connectors.Retryable(err) {
			t.Errorf("push to a hanging platform: %v is not retryable", err)
		}
		var pe *connectors.PlatformError
		if !errors.As(err, &pe) || pe.Status != 0 || pe.Err == nil {
			t.Errorf("push to a hanging platform: %v, want a *connectors.PlatformError with no status and the transport error", err)
		}
	case <-time.After(hangBound):
		t.Fatalf("push to a hanging platform still running %v after a 300ms deadline", hangBound)
	}
}

func (s suite) slow(t *testing.T) {
	t.Parallel()
	fake, tgt := s.start(t)
	status := s.probe()
	s.prepare(t, tgt, status, 1)
	before := len(fake.Effects())
	fake.Fail(fakeplatform.Failure{Delay: 100 * time.Millisecond})
	if err := s.h.Connector.Push(t.Context(), tgt, s.job(status, 1)); err != nil {
		t.Fatalf("push to a slow platform: %v", err)
	}
	if len(fake.Effects()) <= before {
		t.Error("push to a slow platform: no effect")
	}
}

func (s suite) recoverAfterOutage(t *testing.T) {
	t.Parallel()
	status := s.probe()
	want := s.reference(t, status)
	fake, tgt := s.start(t)
	s.prepare(t, tgt, status, 1)
	before := len(fake.Effects())
	j := s.job(status, 1)
	fake.Fail(fakeplatform.Failure{Status: 503})
	for i := range 3 {
		if err := s.h.Connector.Push(t.Context(), tgt, j); err == nil || !connectors.Retryable(err) {
			t.Fatalf("attempt %d during the outage: %v, want a retryable error", i+1, err)
		}
	}
	fake.Recover()
	if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
		t.Fatalf("push after recovery: %v", err)
	}
	if err := s.h.Connector.Push(t.Context(), tgt, j); err != nil {
		t.Fatalf("push again after recovery: %v", err)
	}
	if got := len(fake.Effects()) - before; got != want {
		t.Errorf("after the outage: %d effects, want %d as in a clean push (effects %v)", got, want, fake.Applied(j.ExternalRef))
	}
	if d := fake.Duplicates(); d != 0 {
		t.Errorf("Duplicates() = %d, want 0", d)
	}
}

func (s suite) poisonOrder(t *testing.T) {
	t.Parallel()
	fake, tgt := s.start(t)
	status := s.probe()
	s.prepare(t, tgt, status, 1)
	s.prepare(t, tgt, status, 2)
	poison, good := s.h.Order(1), s.h.Order(2)
	before := len(fake.Applied(poison))
	fake.FailOrder(poison, fakeplatform.Failure{Status: 422})
	err := s.h.Connector.Push(t.Context(), tgt, s.job(status, 1))
	var pe *connectors.PlatformError
	if !errors.As(err, &pe) || pe.Status != 422 || !pe.Permanent {
		t.Errorf("push of the poison order: %v, want a permanent *connectors.PlatformError with Status 422", err)
	}
	goodBefore := len(fake.Applied(good))
	if err := s.h.Connector.Push(t.Context(), tgt, s.job(status, 2)); err != nil {
		t.Fatalf("push of another order beside the poison one: %v", err)
	}
	if len(fake.Applied(good)) <= goodBefore {
		t.Error("push of another order beside the poison one: no effect")
	}
	if got := fake.Applied(poison); len(got) != before {
		t.Errorf("the poison order changed: effects %v", got[before:])
	}
}

func (s suite) concurrent(t *testing.T) {
	t.Parallel()
	const orders = 20
	status := s.probe()
	want := s.reference(t, status)
	fake, tgt := s.start(t)
	base := make([]int, orders+1)
	for n := 1; n <= orders; n++ {
		s.prepare(t, tgt, status, n)
		base[n] = len(fake.Applied(s.h.Order(n)))
	}
	errs := make([]error, orders+1)
	var wg sync.WaitGroup
	for n := 1; n <= orders; n++ {
		wg.Go(func() { errs[n] = s.h.Connector.Push(t.Context(), tgt, s.job(status, n)) })
	}
	wg.Wait()
	for n := 1; n <= orders; n++ {
		if errs[n] != nil {
			t.Errorf("order %d: %v", n, errs[n])
			continue
		}
		if got := len(fake.Applied(s.h.Order(n))) - base[n]; got != want {
			t.Errorf("order %d: %d effects, want %d (%v)", n, got, want, fake.Applied(s.h.Order(n)))
		}
	}
	if d := fake.Duplicates(); d != 0 {
		t.Errorf("Duplicates() = %d, want 0", d)
	}
}
