package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const within = 10 * time.Second

// TestJWKSFileRotation: a token signed with a new key is refused with ErrUnknownKID until the
// key set file holds the key; the refresh the unknown kid asks for picks it up.
func TestJWKSFileRotation(t *testing.T) {
	oldKey := newSigner(t, "ES256", "2024-01", 0)
	newKey := newSigner(t, "EdDSA", "2024-02", 0)
	// The timed refresh is far away: only the unknown kid can cause a refresh here.
	v, path := jwksVerifier(t, Config{JWKSRefresh: time.Hour, UnknownKIDRefreshInterval: 20 * time.Millisecond}, oldKey)
	run(t, v)

	oldToken, err := oldKey.Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)
	newToken, err := newKey.Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)

	_, err = v.Verify(oldToken)
	require.NoError(t, err)
	_, err = v.Verify(newToken)
	require.ErrorIs(t, err, ErrUnknownKID)

	writeJWKS(t, path, oldKey, newKey)
	eventually(t, within, func() bool {
		_, err := v.Verify(newToken)
		return err == nil
	}, "the rotated key is picked up")
	_, err = v.Verify(oldToken)
	assert.NoError(t, err, "the old key stays while it is in the set")

	// A broken file is a failed refresh: counted, and the keys stay.
	require.NoError(t, os.WriteFile(path, []byte(`{"keys": [`), 0o600))
	before := v.RefreshErrors()
	unknown := signRaw(t, newKey, map[string]any{"kid": "2024-03"}, goodClaims())
	eventually(t, within, func() bool {
		_, err := v.Verify(unknown)
		require.ErrorIs(t, err, ErrUnknownKID)
		return v.RefreshErrors() > before
	}, "the broken file is counted as a failed refresh")
	_, err = v.Verify(newToken)
	assert.NoError(t, err, "a failed refresh keeps the previous keys")

	// Retiring the old key.
	writeJWKS(t, path, newKey)
	eventually(t, within, func() bool {
		_, err := v.Verify(unknown) // asks for a refresh
		require.ErrorIs(t, err, ErrUnknownKID)
		_, err = v.Verify(oldToken)
		return errors.Is(err, ErrUnknownKID)
	}, "the retired key is gone")
	_, err = v.Verify(newToken)
	assert.NoError(t, err)
}

func TestJWKSFileTimedRefresh(t *testing.T) {
	a := newSigner(t, "ES256", "a", 0)
	b := newSigner(t, "ES256", "b", 0)
	v, path := jwksVerifier(t, Config{JWKSRefresh: 20 * time.Millisecond, UnknownKIDRefreshInterval: time.Hour}, a)
	run(t, v)
	writeJWKS(t, path, b)
	eventually(t, within, func() bool {
		_, ok := v.keys.Load().byKID["b"]
		return ok
	}, "the file is re-read on the tick")
}

// jwksServer serves a key set that the test can change, or an error status.
type jwksServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	status      int
	requests    atomic.Int64
	notModified atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{status: http.StatusInternalServerError}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			http.Error(w, "key service unavailable", s.status)
			return
		}
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(s.body))
		if r.Header.Get("If-None-Match") == etag {
			s.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func TestJWKSURL(t *testing.T) {
	a := newSigner(t, "RS256", "a", 0)
	b := newSigner(t, "ES256", "b", 0)
	srv := newJWKSServer(t) // starts failing with 500
	v := newVerifier(t, Config{JWKSURL: srv.URL + "/.well-known/jwks.json", JWKSRefresh: time.Hour, UnknownKIDRefreshInterval: 20 * time.Millisecond})
	assert.Zero(t, srv.requests.Load(), "NewVerifier does not fetch")
	require.Error(t, v.Check(context.Background()), "not ready before the key set loaded")

	tokenA, err := a.Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)
	tokenB, err := b.Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)

	run(t, v)
	eventually(t, within, func() bool { return v.RefreshErrors() >= 1 }, "the first fetch fails")
	err = v.Check(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 500")
	_, err = v.Verify(tokenA)
	require.ErrorIs(t, err, ErrUnknownKID)

	srv.serve(http.StatusOK, jwksOf(t, a))
	eventually(t, within, func() bool {
		_, err := v.Verify(tokenA)
		return err == nil
	}, "the key set loads once the server recovers")
	assert.NoError(t, v.Check(context.Background()))

	// The server fails again: the keys stay and the failure is counted.
	srv.serve(http.StatusInternalServerError, nil)
	before := v.RefreshErrors()
	eventually(t, within, func() bool {
		_, err := v.Verify(tokenB)
		require.ErrorIs(t, err, ErrUnknownKID)
		return v.RefreshErrors() > before
	}, "the failed refresh is counted")
	_, err = v.Verify(tokenA)
	assert.NoError(t, err, "the previous keys stay")
	assert.NoError(t, v.Check(context.Background()), "ready: the key set loaded once")

	// A response that is not a key set is a failure too.
	srv.serve(http.StatusOK, []byte(`<html>maintenance</html>`))
	before = v.RefreshErrors()
	eventually(t, within, func() bool {
		_, _ = v.Verify(tokenB)
		return v.RefreshErrors() > before
	}, "a body that is not a key set is counted")
	_, err = v.Verify(tokenA)
	assert.NoError(t, err)

	// Rotation over the URL.
	srv.serve(http.StatusOK, jwksOf(t, a, b))
	eventually(t, within, func() bool {
		_, err := v.Verify(tokenB)
		return err == nil
	}, "the rotated key is fetched")
}

func TestJWKSURLAndFile(t *testing.T) {
	fromFile := newSigner(t, "EdDSA", "file-key", 0)
	fromURL := newSigner(t, "EdDSA", "url-key", 0)
	srv := newJWKSServer(t)
	srv.serve(http.StatusOK, jwksOf(t, fromURL))
	v, _ := jwksVerifier(t, Config{JWKSURL: srv.URL, UnknownKIDRefreshInterval: 20 * time.Millisecond}, fromFile)
	run(t, v)
	eventually(t, within, func() bool { return v.Check(context.Background()) == nil }, "the URL loads")
	for _, s := range []*Signer{fromFile, fromURL} {
		token, err := s.Sign(driver, testAudience, "", time.Hour)
		require.NoError(t, err)
		_, err = v.Verify(token)
		assert.NoError(t, err, s.KeyID())
	}
}

// TestUnknownKIDRefreshIsRateLimited: a stream of unknown kids causes at most one refresh per
// interval.
func TestUnknownKIDRefreshIsRateLimited(t *testing.T) {
	a := newSigner(t, "ES256", "a", 0)
	srv := newJWKSServer(t)
	srv.serve(http.StatusOK, jwksOf(t, a))
	v := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: time.Hour, UnknownKIDRefreshInterval: time.Hour})
	run(t, v)
	eventually(t, within, func() bool { return v.Check(context.Background()) == nil }, "the URL loads")
	start := srv.requests.Load()
	unknown := signRaw(t, a, map[string]any{"kid": "nope"}, goodClaims())
	_, _ = v.Verify(unknown)
	eventually(t, within, func() bool { return srv.requests.Load() == start+1 }, "the first unknown kid refreshes at once")
	for range 100 {
		_, err := v.Verify(unknown)
		require.ErrorIs(t, err, ErrUnknownKID)
	}
	assert.Equal(t, int64(1), srv.notModified.Load(), "the unchanged key set is not sent again")
	// Give Run the chance to (wrongly) fetch again; a negative cannot be polled for.
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, start+1, srv.requests.Load(), "no more refreshes within the interval")
}

func TestRunLifecycle(t *testing.T) {
	v := newVerifier(t, Config{HS256Secret: testSecret})
	assert.NoError(t, v.Check(context.Background()), "nothing to load")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	eventually(t, within, v.running.Load, "Run starts")
	assert.Error(t, v.Run(ctx), "a second Run is refused")
	cancel()
	assert.NoError(t, <-done)

	// A hanging key server does not keep Run from stopping.
	hang := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	v = newVerifier(t, Config{JWKSURL: srv.URL})
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- v.Run(ctx) }()
	<-arrived
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(within):
		t.Fatal("Run did not return after its context ended")
	}
	assert.Zero(t, v.RefreshErrors(), "stopping is not a failed refresh")
}
