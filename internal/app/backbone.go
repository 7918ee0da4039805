package app

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/ingest/verify"
	"github.com/pilotx/dispatchhub/internal/api"
	"github.com/pilotx/dispatchhub/internal/bridge"
	"github.com/pilotx/dispatchhub/internal/outbox"
)

// outboxPartitions is the number of outbox partitions of migration 000003.
const outboxPartitions = 16

// startBackbone runs the event backbone — order intake (INGEST → orders), the outbox relay
// (→ EVENTS), the realtime bridge (EVENTS → MQTT) and the connectors (EVENTS → OUTBOUND →
// the stores) — and serves the REST API.
func (a *App) startBackbone() error {
	js := a.bus.Load().JetStream()
	intake := dispatch.NewIntake(a.db, js, dispatch.IntakeConfig{
		Platforms: verify.Platforms(),
		Workers:   a.cfg.Intake.Workers,
		Attempts:  a.cfg.Intake.Attempts,
		Backoff:   a.cfg.Intake.Backoff(),
		AckWait:   a.cfg.Intake.AckWait,
		Applied:   a.engine.NewOrders,
	}, a.log.With().Str("component", "intake").Logger(), a.reg)
	relay := outbox.NewRelay(a.db, js, outbox.RelayConfig{
		Partitions:    outboxPartitions,
		PollInterval:  a.cfg.Outbox.PollInterval,
		BatchMax:      a.cfg.Outbox.BatchMax,
		Retention:     a.cfg.Outbox.Retention,
		PruneInterval: a.cfg.Outbox.PruneInterval,
	}, a.log, a.reg)
	br := bridge.New(js, a.realtime.broker, bridge.Config{
		Replica: a.replica,
		Durable: a.cfg.Bridge.Durable,
		Batch:   a.cfg.Bridge.Batch,
		AckWait: a.cfg.Bridge.AckWait,
	}, a.log, a.reg)
	for name, run := range map[string]func(context.Context) error{"intake": intake.Run, "outbox": relay.Run, "bridge": br.Run, "dispatch": a.engine.Run} {
		a.workers.start(run, func(err error) { a.log.Error().Err(err).Str("component", name).Msg("worker stopped") })
	}

	d := a.edge.NewDelegate()
	rest := api.New(a.db, a.realtime.verifier, js, a.log, a.reg)
	rest.SetDispatchDefaults(a.engineConfig(nil).Settings)
	if conns := a.startConnectors(); conns != nil {
		rest.SetConnectors(conns)
	}
	rest.Mount(d)
	h := d.Handler()
	a.api.Store(&h)
	return nil
}

// apiHandler is the REST API's handler once the backbone runs, nil before.
func (a *App) apiHandler() fasthttp.RequestHandler {
	if h := a.api.Load(); h != nil {
		return *h
	}
	return nil
}
