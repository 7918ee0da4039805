package app

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/ingest"
	"github.com/pilotx/dispatchhub/internal/edge"
)

// mountRoutes adds the routes of components that start later: until a component is up, its
// routes answer 503 so that platforms retry.
func (a *App) mountRoutes() {
	webhooks := func(c *fiber.Ctx) error {
		ing := a.ingest.Load()
		if ing == nil {
			err := edge.NewError(fiber.StatusServiceUnavailable, "unavailable", "starting; retry")
			err.RetryAfter = time.Second
			return err
		}
		return ing.Handle(c)
	}
	a.edge.App().Post("/v1/webhooks/:platform/:store_id", webhooks)
	a.edge.App().Get("/v1/webhooks/:platform/:store_id", webhooks)
	// The REST API (orders, drivers, dead letters) starts with the backbone.
	a.edge.Delegate("/v1", a.apiHandler)
}

// startIngest builds the webhook edge and runs its workers (group commit, relay to INGEST,
// store-change listener).
func (a *App) startIngest() error {
	objects, err := ingest.NewDirStore(a.cfg.ObjectDir())
	if err != nil {
		return err
	}
	ing := ingest.New(ingest.Config{
		BodyLimit:          int(a.cfg.Ingest.BodyLimit),
		TimestampTolerance: a.cfg.Ingest.TimestampTolerance,
		InlinePayloadMax:   int(a.cfg.Ingest.InlinePayloadMax),
		RateTenant:         a.cfg.Ingest.RateTenant,
		RateTenantBurst:    a.cfg.Ingest.RateTenantBurst,
		RateStore:          a.cfg.Ingest.RateStore,
		RateStoreBurst:     a.cfg.Ingest.RateStoreBurst,
		Queue:              a.cfg.Ingest.Queue,
		BatchMax:           a.cfg.Ingest.BatchMax,
		StoreCacheTTL:      a.cfg.Ingest.StoreCacheTTL,
		RelayPollInterval:  a.cfg.Ingest.RelayPollInterval,
		RejectionsKept:     a.cfg.Ingest.RejectionsKept,
		KeyPrefix:          a.cfg.Redis.KeyPrefix,
		PublicURL:          a.cfg.HTTP.PublicURL,
	}, a.db, a.redis, a.bus.Load().JetStream(), objects, a.log, a.reg)
	a.workers.start(ing.Run, func(err error) { a.log.Error().Err(err).Str("component", "ingest").Msg("ingest workers stopped") })
	a.ingest.Store(ing)
	return nil
}
