package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// simStore is one store of the run and its platform's webhook writer.
type simStore struct {
	id, platform string
	spec         *platformSpec
	info         storeInfo
	url          string // where webhooks are POSTed
	pickup       roads.Point
	seq          int
	rng          *rand.Rand
}

// provisionStore writes a new secret into the provisioner's secret directory and adds store
// i of platform to the tenant, its pickup point a random node of the graph.
func provisionStore(ctx context.Context, cfg *Config, p Provisioner, g *roads.Graph, rng *rand.Rand, runID string, i int, platform string) (*simStore, error) {
	spec := platformSpecs[platform]
	file, key, err := spec.secret()
	if err != nil {
		return nil, err
	}
	slug := fmt.Sprintf("sim-%s-%d-%s", platform, i+1, runID)
	dir := p.SecretDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, slug+".secret"))
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	pickup := g.Point(g.Random(rng))
	name := fmt.Sprintf("Sim %s %d (%s)", platform, i+1, runID)
	id, err := p.Store(ctx, cfg.Tenant, platform, name, "file:"+path, pickup)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	path0 := "/v1/webhooks/" + platform + "/" + id
	return &simStore{
		id: id, platform: platform, spec: spec, pickup: pickup,
		info: storeInfo{Slug: slug, Key: key, SignedURL: cfg.PublicURL + path0},
		url:  cfg.HTTPBase + path0,
		rng:  rand.New(rand.NewPCG(rng.Uint64(), uint64(i))),
	}, nil
}

// next writes the store's next new-order webhook, delivered near dropoff.
func (s *simStore) next(now time.Time, dropoff roads.Point) webhook {
	s.seq++
	o := randomOrder(s.seq, now, dropoff, s.rng)
	return s.spec.build(&o, &s.info, s.rng)
}

// newHTTPClient is the client of every webhook: keep-alive connections, enough of them for
// the webhooks in flight, no proxy.
func newHTTPClient(maxInFlight int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        maxInFlight,
			MaxIdleConnsPerHost: maxInFlight,
			IdleConnTimeout:     30 * time.Second,
			ForceAttemptHTTP2:   false,
		},
	}
}

// post sends one webhook and returns the HTTP status and the answer's status field.
func post(ctx context.Context, c *http.Client, url string, wh *webhook) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(wh.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header = wh.Header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, "", err
	}
	var a struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(raw, &a) // an error answer has no status field
	return resp.StatusCode, a.Status, nil
}
