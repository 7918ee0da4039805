package connectors

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps platform names to their connectors. Platforms without a connector of their
// own use the fallback (the generic signed webhook), when one is set.
type Registry struct {
	mu       sync.RWMutex
	byName   map[string]Connector
	fallback Connector
}

// NewRegistry returns a registry of cs, keyed by their Platform.
func NewRegistry(cs ...Connector) *Registry {
	r := &Registry{byName: map[string]Connector{}}
	for _, c := range cs {
		r.Register(c)
	}
	return r
}

// Register adds c, replacing the connector of the same platform.
func (r *Registry) Register(c Connector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byName[c.Platform()] = c
}

// SetFallback makes c the connector of every platform without one of its own.
func (r *Registry) SetFallback(c Connector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallback = c
}

// For returns the connector of platform: its own, else the fallback.
func (r *Registry) For(platform string) (Connector, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c, ok := r.byName[platform]; ok {
		return c, nil
	}
	if r.fallback != nil {
		return r.fallback, nil
	}
	return nil, fmt.Errorf("no connector for platform %q", platform)
}

// Platforms lists the platforms with a connector of their own, sorted.
func (r *Registry) Platforms() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.byName))
	for p := range r.byName {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
