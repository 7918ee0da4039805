package app

import (
	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/bigcommerce"
	"github.com/pilotx/dispatchhub/connectors/shopify"
	"github.com/pilotx/dispatchhub/connectors/squarespace"
	"github.com/pilotx/dispatchhub/connectors/webhook"
	"github.com/pilotx/dispatchhub/connectors/woocommerce"
)

// connectorRegistry has a connector of its own for Shopify, WooCommerce, BigCommerce and
// Squarespace; every other platform's stores get the generic signed webhook (Standard
// Webhooks) at their --api-base.
func connectorRegistry() *connectors.Registry {
	reg := connectors.NewRegistry(
		shopify.New(shopify.Config{}),
		woocommerce.New(woocommerce.Config{}),
		bigcommerce.New(bigcommerce.Config{}),
		squarespace.New(squarespace.Config{}),
	)
	reg.SetFallback(webhook.New(webhook.Config{}))
	return reg
}

// startConnectors runs the connectors (EVENTS → OUTBOUND → the stores' platforms) when
// connectors.enabled, and returns them for the API; nil when they do not run here.
func (a *App) startConnectors() *connectors.Service {
	c := a.cfg.Connectors
	if !c.Enabled {
		return nil
	}
	defaults := map[string]connectors.Flag{}
	pcts, _ := c.CanaryPercents() // validated with the configuration
	for p, pct := range pcts {
		defaults[p] = connectors.Flag{Enabled: true, CanaryPercent: pct}
	}
	for _, p := range c.Off {
		f, ok := defaults[p]
		if !ok {
			f.CanaryPercent = 100
		}
		f.Enabled = false
		defaults[p] = f
	}
	svc := connectors.New(a.db, a.bus.Load().JetStream(), connectorRegistry(), connectors.NewFlags(a.db, defaults), connectors.Config{
		Workers:       c.Workers,
		Attempts:      c.Attempts,
		RetryDelay:    c.RetryDelay,
		RetryDelayMax: c.RetryDelayMax,
		Timeout:       c.Timeout,
		DelayedAfter:  c.DelayedAfter,
		Retention:     c.Retention,
		Breaker: connectors.BreakerConfig{
			FailureRate: c.BreakerFailureRate, Calls: uint(c.BreakerCalls),
			Delay: c.BreakerDelay, Probes: uint(c.BreakerProbes), SlowCall: c.SlowCall,
		},
		Carrier:     c.Carrier,
		TrackingURL: c.TrackingURL,
	}, a.log.With().Str("component", "connectors").Logger(), a.reg)
	a.workers.start(svc.Run, func(err error) { a.log.Error().Err(err).Str("component", "connectors").Msg("worker stopped") })
	return svc
}
