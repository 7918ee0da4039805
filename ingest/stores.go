package ingest

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/ingest/verify"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/secret"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Settings are the webhook options a store keeps in stores.settings (JSON). Every field is
// optional.
//
//	{"body_limit":"512KiB","ip_allowlist":["203.0.113.0/24"],"timestamp_tolerance":"2m",
//	 "public_keys":["-----BEGIN PUBLIC KEY-----..."],"keys_by_id":{"kid":"-----BEGIN PUBLIC KEY-----..."},
//	 "jwks":{"keys":[...]},"token_ref":"env:DOORDASH_TOKEN","mapping":{...}}
type Settings struct {
	BodyLimit          string             `json:"body_limit,omitempty"`
	IPAllowlist        []string           `json:"ip_allowlist,omitempty"`
	TimestampTolerance string             `json:"timestamp_tolerance,omitempty"`
	PublicKeys         []string           `json:"public_keys,omitempty"`
	KeysByID           map[string]string  `json:"keys_by_id,omitempty"`
	JWKS               json.RawMessage    `json:"jwks,omitempty"`
	TokenRef           string             `json:"token_ref,omitempty"`
	Mapping            *normalize.Mapping `json:"mapping,omitempty"`
}

// storeEntry is a store ready to receive webhooks: its preset, keys and limits resolved.
type storeEntry struct {
	store     store.Store
	preset    *verify.Preset
	keys      verify.Keys
	bodyLimit int
	allow     []netip.Prefix
	tolerance time.Duration
	mapping   *normalize.Mapping
	expires   time.Time
	err       error // the store exists but cannot receive webhooks (bad settings, unresolvable secret)
}

// errUnknownStore: no such store, or the platform in the URL is not the store's.
var errUnknownStore = errors.New("unknown store")

// storeCache caches store lookups (PostgreSQL, through the system role) per replica. A NOTIFY on
// dispatchhub_stores drops an entry at once; the TTL bounds staleness if a notification is lost.
type storeCache struct {
	db       *store.DB
	ttl      time.Duration
	defaults storeDefaults
	mu       sync.RWMutex
	entries  map[string]*storeEntry
	loads    singleflight.Group
	now      func() time.Time
	negTTL   time.Duration
}

type storeDefaults struct {
	bodyLimit int
	tolerance time.Duration
}

func newStoreCache(db *store.DB, ttl time.Duration, d storeDefaults) *storeCache {
	return &storeCache{db: db, ttl: ttl, defaults: d, entries: make(map[string]*storeEntry), now: time.Now, negTTL: 5 * time.Second}
}

// get returns the store with its resolved settings; errUnknownStore when there is none.
func (c *storeCache) get(ctx context.Context, id string) (*storeEntry, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		if e.store.ID == "" {
			return nil, errUnknownStore
		}
		return e, nil
	}
	// id may point into Fiber's reused request buffer: the cache keeps its own copy.
	id = strings.Clone(id)
	v, err, _ := c.loads.Do(id, func() (any, error) {
		s, err := c.db.StoreByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			c.put(id, &storeEntry{expires: c.now().Add(c.negTTL)})
			return nil, errUnknownStore
		}
		if err != nil {
			return nil, err
		}
		e := c.compile(s)
		e.expires = c.now().Add(c.ttl)
		c.put(id, e)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*storeEntry), nil
}

func (c *storeCache) put(id string, e *storeEntry) {
	c.mu.Lock()
	c.entries[id] = e
	c.mu.Unlock()
}

// invalidate drops one store ("" drops them all).
func (c *storeCache) invalidate(id string) {
	c.mu.Lock()
	if id == "" {
		clear(c.entries)
	} else {
		delete(c.entries, id)
	}
	c.mu.Unlock()
	c.loads.Forget(id)
}

// compile resolves a store's preset, secrets and settings. Problems are kept in entry.err so
// the edge can refuse its webhooks with a clear log line instead of failing the lookup.
func (c *storeCache) compile(s store.Store) *storeEntry {
	e := &storeEntry{store: s, bodyLimit: c.defaults.bodyLimit, tolerance: c.defaults.tolerance}
	preset, ok := verify.Lookup(s.Platform)
	if !ok {
		e.err = fmt.Errorf("platform %q has no verification preset", s.Platform)
		return e
	}
	e.preset = preset
	for _, ref := range s.SecretRefs {
		b, err := secret.Resolve(ref)
		if err != nil {
			e.err = err
			return e
		}
		e.keys.Secrets = append(e.keys.Secrets, b)
	}
	var st Settings
	if len(s.Settings) > 0 {
		if err := json.Unmarshal(s.Settings, &st); err != nil {
			e.err = fmt.Errorf("store settings: %w", err)
			return e
		}
	}
	if st.BodyLimit != "" {
		n, err := config.ParseByteSize(st.BodyLimit)
		if err != nil || n <= 0 {
			e.err = fmt.Errorf("store settings body_limit: must be a size such as 512KiB, got %q", st.BodyLimit)
			return e
		}
		e.bodyLimit = int(n)
	}
	if st.TimestampTolerance != "" {
		d, err := time.ParseDuration(st.TimestampTolerance)
		if err != nil || d <= 0 {
			e.err = fmt.Errorf("store settings timestamp_tolerance: must be a duration such as 5m, got %q", st.TimestampTolerance)
			return e
		}
		e.tolerance = d
	}
	for _, cidr := range st.IPAllowlist {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			a, aerr := netip.ParseAddr(cidr)
			if aerr != nil {
				e.err = fmt.Errorf("store settings ip_allowlist: %q is not an IP or CIDR", cidr)
				return e
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		e.allow = append(e.allow, p.Masked())
	}
	for _, pemText := range st.PublicKeys {
		k, err := parsePublicKey(pemText)
		if err != nil {
			e.err = fmt.Errorf("store settings public_keys: %w", err)
			return e
		}
		e.keys.PublicKeys = append(e.keys.PublicKeys, k)
	}
	if len(st.KeysByID) > 0 {
		e.keys.KeysByID = make(map[string]crypto.PublicKey, len(st.KeysByID))
		for kid, pemText := range st.KeysByID {
			k, err := parsePublicKey(pemText)
			if err != nil {
				e.err = fmt.Errorf("store settings keys_by_id[%s]: %w", kid, err)
				return e
			}
			e.keys.KeysByID[kid] = k
		}
	}
	e.keys.JWKS = st.JWKS
	if st.TokenRef != "" {
		b, err := secret.Resolve(st.TokenRef)
		if err != nil {
			e.err = err
			return e
		}
		e.keys.Token = string(b)
	}
	if st.Mapping != nil {
		if err := st.Mapping.Validate(); err != nil {
			e.err = fmt.Errorf("store settings mapping: %w", err)
			return e
		}
		e.mapping = st.Mapping
	}
	return e
}

func parsePublicKey(pemText string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
		return cert.PublicKey, nil
	}
	return nil, errors.New("PEM holds no public key or certificate")
}

// allowed reports whether addr may send webhooks for the store (no list: everyone).
func (e *storeEntry) allowed(addr netip.Addr) bool {
	if len(e.allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range e.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
