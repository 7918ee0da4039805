// Package fakeplatform runs local stand-ins for the commerce platforms' APIs over real HTTP,
// for tests and benchmarks: they speak each platform's wire protocol (paths, headers, bodies,
// throttling) closely enough for the real connectors, record every effect per order, and fail
// on demand the way the real ones do (5xx, hanging, 429 with Retry-After, throttling inside a
// 200, slow answers, a 4xx for one order).
package fakeplatform

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Failure is how a fake answers while it fails.
type Failure struct {
	Status     int           // answer this HTTP status (5xx, 4xx, 429); 0: answer normally
	RetryAfter string        // the Retry-After header sent with Status
	Throttled  bool          // Shopify: 200 with a THROTTLED error and its throttleStatus
	Delay      time.Duration // wait this long before answering (a slow platform)
	Hang       bool          // never answer: hold the request until the client gives up
	Body       string        // the body sent with Status (default: a platform-like error)
}

// Effect is one change a request made on the platform.
type Effect struct {
	Order string    // the platform's order id (external_ref)
	What  string    // the platform-level change ("status:completed", "fulfillment:create", "event:DELIVERED", "note:<job id>")
	Key   string    // what makes it a duplicate when it happens twice (job id, tracking number, status)
	At    time.Time // when it was applied
}

// Server is one fake platform. Its handler is the platform's; Server does credentials,
// failures, counting and the record of effects.
type Server struct {
	platform   string
	credential string
	srv        *httptest.Server

	mu         sync.Mutex
	failAll    *Failure
	failOrder  map[string]Failure
	requests   int
	effects    []Effect
	seen       map[string]int // order + "\x00" + key → times applied
	duplicates int
	state      map[string]any // per-platform state, owned by the handler (under mu)
}

// Handler is a platform's protocol: it answers r, calling s.Apply for each effect. order is
// the order the request is about ("" when none), found by the platform's route parser.
type Handler interface {
	// Order returns the platform order a request is about, or "".
	Order(r *http.Request) string
	// Authorized reports whether r carries credential the way the platform wants it.
	Authorized(r *http.Request, credential string) bool
	// Serve answers an authorized request that is not failing.
	Serve(s *Server, w http.ResponseWriter, r *http.Request)
	// Fail answers a request that fails with f (f.Status != 0 or f.Throttled).
	Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure)
}

// New starts a fake platform on a free port of 127.0.0.1; it stops when tb ends.
func New(tb testing.TB, platform, credential string, h Handler) *Server {
	s := &Server{platform: platform, credential: credential, failOrder: map[string]Failure{},
		seen: map[string]int{}, state: map[string]any{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(h, w, r)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) serve(h Handler, w http.ResponseWriter, r *http.Request) {
	order := h.Order(r)
	s.mu.Lock()
	s.requests++
	f := s.failAll
	if of, ok := s.failOrder[order]; ok && order != "" {
		f = &of
	}
	s.mu.Unlock()
	if !h.Authorized(r, s.credential) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`))
		return
	}
	if f != nil {
		if f.Hang {
			// net/http notices that the client gave up (and cancels r.Context()) only once the
			// request body has been read to its end: without this, a request with a body the
			// handler did not read would hang here, and Close with it, forever.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return
		}
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status != 0 || f.Throttled {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			h.Fail(s, w, r, *f)
			return
		}
	}
	h.Serve(s, w, r)
}

// URL is the API base to give a store (its api_base).
func (s *Server) URL() string { return s.srv.URL }

// Platform names the platform.
func (s *Server) Platform() string { return s.platform }

// Credential is what the fake accepts (the store's API credential).
func (s *Server) Credential() string { return s.credential }

// Close stops the server; requests in flight are cut.
func (s *Server) Close() {
	s.mu.Lock()
	s.failAll = nil
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Fail makes every request fail with f until Recover.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = &f
}

// FailOrder makes the requests about one order fail with f (a poison job) until Recover.
func (s *Server) FailOrder(order string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOrder[order] = f
}

// Recover ends every failure.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = nil
	s.failOrder = map[string]Failure{}
}

// Apply records an effect on order; the same (order, key) twice counts as a duplicate.
// Handlers call it with s's lock NOT held.
func (s *Server) Apply(order, what, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.effects = append(s.effects, Effect{Order: order, What: what, Key: key, At: time.Now()})
	k := order + "\x00" + key
	s.seen[k]++
	if s.seen[k] > 1 {
		s.duplicates++
	}
}

// State runs fn with the handler's state map under the server's lock.
func (s *Server) State(fn func(state map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.state)
}

// Applied lists the effects on order, in the order they were applied.
func (s *Server) Applied(order string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.effects {
		if e.Order == order {
			out = append(out, e.What)
		}
	}
	return out
}

// Effects returns every effect so far.
func (s *Server) Effects() []Effect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Effect(nil), s.effects...)
}

// Requests counts the requests received, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Duplicates counts effects applied a second time with the same key.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// WriteJSON answers status with body as application/json.
func WriteJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
