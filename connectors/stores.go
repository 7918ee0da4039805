package connectors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/secret"
	"github.com/pilotx/dispatchhub/internal/store"
)

// storeCache keeps the stores jobs go to for a while, so a burst of jobs reads each once.
type storeCache struct {
	db  *store.DB
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedStore
}

type cachedStore struct {
	at time.Time
	s  store.Store
}

func newStoreCache(db *store.DB, ttl time.Duration) *storeCache {
	return &storeCache{db: db, ttl: ttl, m: map[string]cachedStore{}}
}

func (c *storeCache) get(ctx context.Context, id string) (store.Store, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.s, nil
	}
	s, err := c.db.StoreByID(ctx, id)
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[id] = cachedStore{at: time.Now(), s: s}
	c.mu.Unlock()
	return s, nil
}

// target builds what the connector needs to reach the store of j: the store's own API
// address or the platform's, and the resolved credential. The credential is resolved on
// every job, so a rotated secret is used at once.
func (s *Service) target(ctx context.Context, c Connector, j *Job) (Target, error) {
	st, err := s.stores.get(ctx, j.StoreID)
	if err != nil {
		return Target{}, err
	}
	t := Target{StoreID: st.ID, ExternalID: st.ExternalID, APIBase: strings.TrimRight(st.APIBase, "/")}
	if t.APIBase == "" {
		t.APIBase = strings.TrimRight(c.DefaultBase(t), "/")
	}
	if t.APIBase == "" {
		return t, fmt.Errorf("%w: store %s (%s) has no --api-base", ErrNoEndpoint, st.ID, st.Platform)
	}
	if st.APICredentialRef == "" {
		return t, fmt.Errorf("%w: store %s has no --api-credential-ref", ErrNoCredential, st.ID)
	}
	cred, err := secret.Resolve(st.APICredentialRef)
	if err != nil {
		return t, fmt.Errorf("%w: store %s: %v", ErrNoCredential, st.ID, err)
	}
	t.Credential = cred
	return t, nil
}

// storePlatforms lists the platforms that have stores.
func storePlatforms(ctx context.Context, db *store.DB) ([]string, error) {
	var out []string
	err := db.WithSystemTx(ctx, "connector-platforms", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT platform FROM stores WHERE enabled`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list store platforms: %w", err)
	}
	return out, nil
}
