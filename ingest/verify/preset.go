package verify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Verify runs the preset's scheme, then reads the event id and type. A
// verified request without an event id is ErrMalformed.
func (p *Preset) Verify(r *Request, k Keys, tolerance time.Duration) (Result, error) {
	if p.Scheme == nil {
		return Result{}, fail(p.Platform, ErrNoKey, "preset has no scheme")
	}
	if r == nil {
		return Result{}, fail(p.Platform, ErrMalformed, "no request")
	}
	at, err := p.Scheme.Verify(r, k, tolerance)
	if err != nil {
		return Result{}, err
	}
	res := Result{SignedAt: at, BodyAuthenticated: p.BodyAuthenticated}
	if p.EventID != nil {
		id, err := p.EventID(r)
		if err != nil {
			return Result{}, fmt.Errorf("verify %s: event id: %w", p.Platform, err)
		}
		if id == "" {
			return Result{}, fail(p.Platform, ErrMalformed, "no event id")
		}
		res.EventID = id
	}
	if p.EventType != nil {
		res.EventType = p.EventType(r)
	}
	return res, nil
}

// catalogue holds the presets by platform id. It is built once and never
// changed; Lookup hands out copies.
var catalogue = func() map[string]*Preset {
	m := make(map[string]*Preset)
	for _, p := range presets() {
		if _, dup := m[p.Platform]; dup {
			panic("verify: duplicate preset " + p.Platform)
		}
		m[p.Platform] = p
	}
	return m
}()

// Lookup returns a copy of the preset for platform (case-insensitive). The
// copy may be changed freely, for example to replace the Scheme of a preset
// whose Confidence is "U" with one built from configuration.
func Lookup(platform string) (*Preset, bool) {
	p, ok := catalogue[strings.ToLower(strings.TrimSpace(platform))]
	if !ok {
		return nil, false
	}
	c := *p
	return &c, true
}

// Platforms returns the platform ids of every preset, sorted.
func Platforms() []string {
	return slices.Sorted(maps.Keys(catalogue))
}
