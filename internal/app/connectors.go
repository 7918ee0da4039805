package app

import (
	"net/http"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/bigcommerce"
	"github.com/pilotx/dispatchhub/connectors/shopify"
	"github.com/pilotx/dispatchhub/connectors/squarespace"
	"github.com/pilotx/dispatchhub/connectors/webhook"
	"github.com/pilotx/dispatchhub/connectors/woocommerce"
)

// connectorRegistry has a connector of its own for Shopify, WooCommerce, BigCommerce and
// Squarespace; every other platform's stores get the generic signed webhook (Standard
// Webhooks) at their --api-base. They share one transport that keeps as many idle
// connections per platform host as a pool has workers, and their clients have no timeout of
// their own: each call is bounded by connectors.timeout through its context.
func connectorRegistry(workers int) *connectors.Registry {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(workers, 2)
	client := &http.Client{Transport: transport}
	reg := connectors.NewRegistry(
		shopify.New(shopify.Config{HTTPClient: client}),
		woocommerce.New(woocommerce.Config{HTTPClient: client}),
		bigcommerce.New(bigcommerce.Config{HTTPClient: client}),
		squarespace.New(squarespace.Config{HTTPClient: client}),
	)
	// A receiver's redirect is a failure, not a second place to post a signed body to.
	reg.SetFallback(webhook.New(webhook.Config{HTTPClient: &http.Client{Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}))
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
	svc := connectors.New(a.db, a.bus.Load().JetStream(), connectorRegistry(c.Workers), connectors.NewFlags(a.db, defaults), connectors.Config{
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
