package auth

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"
)

// Run keeps the key set fresh until ctx ends: it fetches the JWKS URL at once, then re-reads
// the JWKS file and re-fetches the URL every JWKSRefresh, and sooner when Verify met an
// unknown kid (at most once per UnknownKIDRefreshInterval). A failed refresh is logged and
// counted and the previous keys stay. Run returns nil when ctx ends; only one Run may be
// active at a time.
func (v *Verifier) Run(ctx context.Context) error {
	if !v.running.CompareAndSwap(false, true) {
		return errors.New("auth: verifier is already running")
	}
	defer v.running.Store(false)
	if v.ownClient {
		defer v.client.CloseIdleConnections()
	}
	if v.cfg.JWKSFile == "" && v.cfg.JWKSURL == "" {
		<-ctx.Done()
		return nil
	}
	if v.cfg.JWKSURL != "" {
		v.refreshURL(ctx)
	}
	tick := time.NewTicker(v.cfg.JWKSRefresh)
	defer tick.Stop()
	var (
		lastKick time.Time
		delay    *time.Timer
		delayed  <-chan time.Time // non-nil while a refresh waits for the rate limit
	)
	defer func() {
		if delay != nil {
			delay.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			v.refresh(ctx)
		case <-v.kick:
			if delayed != nil {
				continue
			}
			wait := v.cfg.UnknownKIDRefreshInterval - time.Since(lastKick)
			if wait > 0 {
				delay = time.NewTimer(wait)
				delayed = delay.C
				continue
			}
			lastKick = time.Now()
			v.refresh(ctx)
		case <-delayed:
			delayed = nil
			lastKick = time.Now()
			v.refresh(ctx)
		}
	}
}

// refresh re-reads every configured source.
func (v *Verifier) refresh(ctx context.Context) {
	if v.cfg.JWKSFile != "" {
		if changed, err := v.loadFile(); err != nil {
			v.refreshFailed("file", v.cfg.JWKSFile, err)
		} else if changed {
			v.log.Info().Str("source", "file").Str("path", v.cfg.JWKSFile).Strs("kids", v.kids()).Msg("jwks loaded")
		}
	}
	if v.cfg.JWKSURL != "" {
		v.refreshURL(ctx)
	}
}

func (v *Verifier) refreshURL(ctx context.Context) {
	changed, err := v.fetchURL(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping: not a failure of the key source.
	case err != nil:
		v.mu.Lock()
		v.urlErr = err
		v.mu.Unlock()
		v.refreshFailed("url", redact(v.cfg.JWKSURL), err)
	case changed:
		v.log.Info().Str("source", "url").Str("url", redact(v.cfg.JWKSURL)).Strs("kids", v.kids()).Msg("jwks loaded")
	}
}

func (v *Verifier) refreshFailed(source, where string, err error) {
	v.refreshErrors.Add(1)
	v.log.Warn().Err(err).Str("source", source).Str("location", where).
		Int("keys", len(v.keys.Load().byKID)).Msg("jwks refresh failed; keeping the previous keys")
}

// loadFile reads the JWKS file and publishes its keys when its content changed.
func (v *Verifier) loadFile() (changed bool, err error) {
	data, err := readLimited(v.cfg.JWKSFile)
	if err != nil {
		return false, fmt.Errorf("auth: jwks_file: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fileKeys != nil && bytes.Equal(data, v.fileData) {
		return false, nil
	}
	keys, skipped, err := parseJWKS(data)
	if err != nil {
		return false, fmt.Errorf("auth: jwks_file %s: %w", v.cfg.JWKSFile, err)
	}
	v.logSkipped("file", skipped)
	v.fileKeys, v.fileData = keys, data
	v.publish()
	return true, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxJWKSSize)
	}
	return data, nil
}

// fetchURL fetches the JWKS URL and publishes its keys when they changed.
func (v *Verifier) fetchURL(ctx context.Context) (changed bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	v.mu.Lock()
	if v.urlKeys != nil && v.urlETag != "" {
		req.Header.Set("If-None-Match", v.urlETag)
	}
	v.mu.Unlock()
	resp, err := v.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		v.urlLoaded.Store(true)
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, fmt.Errorf("GET %s: HTTP %d", redact(v.cfg.JWKSURL), resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", redact(v.cfg.JWKSURL), err)
	}
	keys, skipped, err := parseJWKS(data)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", redact(v.cfg.JWKSURL), err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.logSkipped("url", skipped)
	changed = !sameKeys(v.urlKeys, keys)
	v.urlKeys, v.urlETag, v.urlErr = keys, resp.Header.Get("ETag"), nil
	v.urlLoaded.Store(true)
	if changed {
		v.publish()
	}
	return changed, nil
}

// publish swaps in a key set built from both sources; the file wins on a kid in both.
// v.mu must be held.
func (v *Verifier) publish() {
	byKID := make(map[string]*publicKey, len(v.fileKeys)+len(v.urlKeys))
	maps.Copy(byKID, v.urlKeys)
	maps.Copy(byKID, v.fileKeys)
	ks := &keySet{byKID: byKID}
	if len(byKID) == 1 {
		for _, k := range byKID {
			ks.only = k
		}
	}
	v.keys.Store(ks)
}

func (v *Verifier) logSkipped(source string, skipped []string) {
	for _, s := range skipped {
		v.log.Warn().Str("source", source).Str("key", s).Msg("jwks key left out")
	}
}

// kids lists the kids of the current key set, sorted.
func (v *Verifier) kids() []string {
	return slices.Sorted(maps.Keys(v.keys.Load().byKID))
}

// sameKeys reports whether two key sets hold the same kids with the same keys.
func sameKeys(a, b map[string]*publicKey) bool {
	if a == nil || len(a) != len(b) {
		return false
	}
	for kid, ka := range a {
		kb, ok := b[kid]
		if !ok || ka.alg != kb.alg || ka.kind != kb.kind || !keyEqual(ka.key, kb.key) {
			return false
		}
	}
	return true
}

func keyEqual(a, b any) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	return e.Equal(b)
}
