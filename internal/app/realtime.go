package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/pilotx/dispatchhub/broker"
	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/hooks"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/secret"
)

// realtime is the MQTT core: the broker, its hooks and their workers.
type realtime struct {
	broker   *broker.Broker
	verifier *auth.Verifier
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// verifierConfig resolves the token keys: the configured HS256 secret, JWKS file and URL, and
// in dev mode the generated development secret when no HS256 secret is configured.
func (a *App) verifierConfig() (auth.Config, error) {
	c := auth.Config{
		Audience:    a.cfg.Auth.Audience,
		Issuer:      a.cfg.Auth.Issuer,
		JWKSFile:    a.cfg.Auth.JWKSFile,
		JWKSURL:     a.cfg.Auth.JWKSURL,
		JWKSRefresh: a.cfg.Auth.JWKSRefresh,
		Algorithms:  a.cfg.Auth.Algorithms,
		Leeway:      a.cfg.Auth.Leeway,
	}
	switch {
	case a.cfg.Auth.HS256SecretRef != "":
		s, err := secret.Resolve(a.cfg.Auth.HS256SecretRef)
		if err != nil {
			return c, fmt.Errorf("auth.hs256_secret_ref: %w", err)
		}
		c.HS256Secret = s
	case a.cfg.Dev:
		s, path, err := auth.DevSecret(a.cfg.DataDir)
		if err != nil {
			return c, fmt.Errorf("auth: development key: %w", err)
		}
		c.HS256Secret = s
		a.log.Warn().Str("component", "auth").Str("key", path).Msg("dev mode: tokens are verified with the development HS256 key")
	}
	a.hs256 = c.HS256Secret
	if c.HS256Secret == nil && c.JWKSFile == "" && c.JWKSURL == "" {
		return c, errors.New("auth: no token key configured: set auth.hs256_secret_ref, auth.jwks_file or auth.jwks_url (serve --dev uses a generated development key)")
	}
	return c, nil
}

// engineConfig is the dispatch engine's configuration from the dispatch section.
func (a *App) engineConfig(direct dispatch.DirectPublisher) dispatch.EngineConfig {
	d := a.cfg.Dispatch
	return dispatch.EngineConfig{
		Settings: dispatch.Settings{
			Strategy: dispatch.Strategy(d.Strategy), OfferTimeout: d.OfferTimeout, MaxPickupMeters: d.MaxPickupDistance,
			BroadcastFanout: d.BroadcastFanout, BatchWindow: d.BatchWindow,
		},
		SilentAfter:   d.SilentAfter,
		SweepInterval: d.SweepInterval,
		Index:         geo.IndexConfig{Resolution: d.H3Resolution, MaxFixAge: d.MaxFixAge, MaxSpeed: d.MaxSpeed},
		KeyPrefix:     a.cfg.Redis.KeyPrefix,
		Direct:        direct,
		Replica:       a.replica,
	}
}

// startRealtime builds the broker and its hooks, starts their workers and opens the listeners.
func (a *App) startRealtime() error {
	vc, err := a.verifierConfig()
	if err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(vc, a.log)
	if err != nil {
		return err
	}
	b, err := broker.New(broker.ConfigFrom(a.cfg.MQTT), a.log, a.reg)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	bus := a.bus.Load()
	sessions := &hooks.Sessions{}
	presence := hooks.NewPresence(hooks.PresenceConfig{
		Grace: a.cfg.Presence.Grace, LastSeenInterval: a.cfg.Presence.LastSeenInterval, KeyPrefix: a.cfg.Redis.KeyPrefix,
		RetainRefresh: a.cfg.MQTT.MessageExpiryMax / 2,
	}, sessions, a.db, a.redis, b.Server(), a.log, a.reg)
	location := hooks.NewLocation(hooks.LocationConfig{
		MaxFutureSkew: a.cfg.Location.MaxFutureSkew, Buffer: a.cfg.Location.Buffer,
		RedisFlushInterval: a.cfg.Location.RedisFlushInterval, KeyPrefix: a.cfg.Redis.KeyPrefix,
	}, sessions, bus.Conn(), a.redis, presence, a.log, a.reg)
	access := hooks.NewAccess(verifier, sessions, b.Server(), a.log, a.reg)
	access.SetLeeway(a.cfg.Auth.Leeway)
	engine, err := dispatch.NewEngine(a.db, bus.Conn(), a.redis, a.engineConfig(b), a.log, a.reg)
	if err != nil {
		return err
	}
	a.engine = engine
	a.replies = dispatch.NewReplies(a.db, engine.Wake, a.log, a.reg)
	replies := hooks.NewReplies(sessions, a.replies, a.reg)
	for _, h := range []mqtt.Hook{access, presence, location, replies, hooks.NewDrops(a.log, a.reg)} {
		if err := b.AddHook(h, nil); err != nil {
			return fmt.Errorf("mqtt hook %s: %w", h.ID(), err)
		}
	}

	rt := &realtime{broker: b, verifier: verifier}
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	for _, run := range []func(context.Context) error{verifier.Run, presence.Run, location.Run, a.replies.Run} {
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			if err := run(ctx); err != nil {
				a.log.Error().Err(err).Msg("realtime worker stopped")
			}
		}()
	}
	if err := b.Start(); err != nil {
		rt.stop()
		return fmt.Errorf("mqtt: %w", err)
	}
	a.realtime = rt
	a.checks.Set("mqtt", b.Check)
	a.checks.Set("auth", verifier.Check)
	var addrs []string
	for _, id := range []string{"tcp", "ws", "tls", "wss"} {
		if addr := b.Addr(id); addr != "" {
			addrs = append(addrs, id+"="+addr)
		}
	}
	a.log.Info().Str("component", "mqtt").Str("listeners", strings.Join(addrs, " ")).Msg("mqtt broker listening")
	return nil
}

// stop closes the listeners and clients first, then stops the workers (which drain what the
// hooks queued) and waits for them.
func (rt *realtime) stop() error {
	err := rt.broker.Close()
	rt.cancel()
	done := make(chan struct{})
	go func() { rt.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return errors.Join(err, errors.New("realtime workers did not stop within 10s"))
	}
	return err
}

// MQTTAddr is the address of a broker listener ("tcp", "ws", "tls", "wss") once the hub has
// started, "" before or when that listener is off.
func (a *App) MQTTAddr(listener string) string {
	select {
	case <-a.started:
	default:
		return ""
	}
	if a.realtime == nil {
		return ""
	}
	return a.realtime.broker.Addr(listener)
}
