// Package ingest is the webhook edge: POST /v1/webhooks/{platform}/{store_id}. It finds the
// store, applies its IP allow-list and rate limits, verifies the signature over the raw bytes
// with the platform's preset, de-duplicates, stores the payload durably (group commit) and only
// then answers 200. A relay then publishes every stored event once on NATS INGEST.
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/ingest/verify"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Config configures the edge (see the ingest.* keys of configs/dispatchhub.yaml).
type Config struct {
	BodyLimit          int
	TimestampTolerance time.Duration
	InlinePayloadMax   int
	RateTenant         int
	RateTenantBurst    int
	RateStore          int
	RateStoreBurst     int
	Queue              int
	BatchMax           int
	StoreCacheTTL      time.Duration
	RelayPollInterval  time.Duration
	RejectionsKept     int
	KeyPrefix          string // Redis key prefix
	// PublicURL is the base URL platforms call (http.public_url). Schemes that sign the URL
	// (Square) and eBay's challenge need the URL exactly as registered, which a TLS proxy in front
	// of the edge would otherwise change. Empty: the URL the request arrived on.
	PublicURL string
}

// Edge is the webhook edge with its workers.
type Edge struct {
	cfg     Config
	db      *store.DB
	rdb     redis.UniversalClient
	objects ObjectStore
	cache   *storeCache
	writer  *writer
	relay   *relay
	limiter *limiter
	log     zerolog.Logger

	requests   *prometheus.CounterVec
	rejections *prometheus.CounterVec
	ack        *prometheus.HistogramVec
}

// New builds the edge; Mount adds its routes and Run runs its workers.
func New(cfg Config, db *store.DB, rdb redis.UniversalClient, js jetstream.JetStream, objects ObjectStore, log zerolog.Logger, reg prometheus.Registerer) *Edge {
	log = log.With().Str("component", "ingest").Logger()
	e := &Edge{
		cfg: cfg, db: db, rdb: rdb, objects: objects, log: log,
		cache: newStoreCache(db, cfg.StoreCacheTTL, storeDefaults{bodyLimit: cfg.BodyLimit, tolerance: cfg.TimestampTolerance}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "webhooks_total",
			Help: "Webhooks answered, by platform and result (accepted, duplicate, handshake, rejected).",
		}, []string{"platform", "result"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "rejections_total",
			Help: "Webhooks refused, by reason.",
		}, []string{"reason"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "ack_seconds",
			Help: "Time from request to answer, by result; accepted includes the durable commit.", Buckets: metrics.LatencyBuckets,
		}, []string{"result"}),
	}
	e.relay = newRelay(db, js, cfg.RelayPollInterval, log, reg)
	e.writer = newWriter(db, cfg.Queue, cfg.BatchMax, e.relay.enqueue, log, reg)
	e.limiter = newLimiter(rdb, cfg.KeyPrefix, cfg.RateTenant, cfg.RateTenantBurst, cfg.RateStore, cfg.RateStoreBurst, log, reg)
	reg.MustRegister(e.requests, e.rejections, e.ack)
	return e
}

// Mount adds the webhook routes (GET answers handshakes such as eBay's challenge).
func (e *Edge) Mount(app *fiber.App) {
	app.Post("/v1/webhooks/:platform/:store_id", e.Handle)
	app.Get("/v1/webhooks/:platform/:store_id", e.Handle)
}

// Run runs the group-commit writer, the relay and the store-change listener until ctx ends.
func (e *Edge) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.writer.run(gctx) })
	g.Go(func() error { return e.relay.run(gctx) })
	g.Go(func() error { return e.limiter.batcher.run(gctx) })
	g.Go(func() error {
		return e.db.Listen(gctx, "dispatchhub_stores", e.cache.invalidate, func() { e.cache.invalidate("") })
	})
	return g.Wait()
}

var allowedTypes = map[string]bool{
	"application/json": true, "application/x-www-form-urlencoded": true, "text/plain": true, "application/jwt": true,
	"application/cloudevents+json": true, "application/webhook+json": true,
}

// reject answers with the JSON error format, counts the reason and keeps a debug copy.
func (e *Edge) reject(c *fiber.Ctx, status int, reason, msg string, ent *storeEntry) error {
	e.rejections.WithLabelValues(reason).Inc()
	platform := "unknown"
	r := Rejection{
		At: time.Now().UTC(), Platform: strings.Clone(c.Params("platform")), StoreID: strings.Clone(c.Params("store_id")),
		Remote: c.IP(), Status: status, Reason: reason, Detail: msg, Path: maskQuery(string(c.Request().URI().RequestURI())),
		Headers: keepHeaders(headerOf(c)), BodyExcerpt: excerpt(c.BodyRaw()), BodySize: len(c.BodyRaw()),
	}
	if ent != nil && ent.store.ID != "" {
		platform, r.Tenant = ent.store.Platform, ent.store.TenantID
	}
	e.requests.WithLabelValues(platform, "rejected").Inc()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = recordRejection(ctx, e.rdb, e.cfg.KeyPrefix, e.cfg.RejectionsKept, r)
	}()
	err := edge.NewError(status, codeFor(status), msg)
	if status == fiber.StatusTooManyRequests || status == fiber.StatusServiceUnavailable {
		err.RetryAfter = time.Second
	}
	return err
}

func codeFor(status int) string {
	switch status {
	case 400:
		return "malformed"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "unknown_store"
	case 413:
		return "payload_too_large"
	case 415:
		return "unsupported_media_type"
	case 429:
		return "rate_limited"
	}
	return "unavailable"
}

func headerOf(c *fiber.Ctx) http.Header {
	h := make(http.Header, 16)
	c.Request().Header.VisitAll(func(k, v []byte) {
		h.Add(string(k), string(v))
	})
	return h
}

// Handle answers one webhook request (routes: see Mount).
func (e *Edge) Handle(c *fiber.Ctx) error {
	start := time.Now()
	ctx := c.UserContext()
	storeID := c.Params("store_id")
	if _, err := uuid.Parse(storeID); err != nil {
		return e.reject(c, 404, "unknown_store", "unknown store", nil)
	}
	ent, err := e.cache.get(ctx, storeID)
	switch {
	case errors.Is(err, errUnknownStore):
		return e.reject(c, 404, "unknown_store", "unknown store", nil)
	case err != nil:
		e.log.Error().Err(err).Msg("store lookup failed")
		return e.reject(c, 503, "store_lookup", "cannot look the store up now; retry", nil)
	}
	if ent.store.Platform != c.Params("platform") || !ent.store.Enabled {
		return e.reject(c, 404, "unknown_store", "unknown store", nil)
	}
	if ent.err != nil {
		e.log.Error().Err(ent.err).Str("store", ent.store.ID).Msg("store cannot receive webhooks: fix its configuration")
		return e.reject(c, 503, "store_misconfigured", "store not configured for webhooks; retry later", ent)
	}
	if addr, err := netip.ParseAddr(c.IP()); err != nil || !ent.allowed(addr) {
		return e.reject(c, 403, "ip_not_allowed", "source address not allowed for this store", ent)
	}
	if ok, wait := e.limiter.allow(ctx, ent.store.TenantID, ent.store.ID); !ok {
		e.rejections.WithLabelValues("rate_limited").Inc()
		e.requests.WithLabelValues(ent.store.Platform, "rejected").Inc()
		err := edge.NewError(429, "rate_limited", "too many webhooks; retry later")
		err.RetryAfter = max(wait, time.Second)
		return err
	}
	body := c.BodyRaw()
	if len(body) > ent.bodyLimit {
		return e.reject(c, 413, "too_large", "body larger than the store's limit", ent)
	}
	if ct := string(c.Request().Header.ContentType()); ct != "" && c.Method() == fiber.MethodPost {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(allowedTypes[mt] || strings.HasSuffix(mt, "+json")) {
			return e.reject(c, 415, "unsupported_type", "unsupported content type", ent)
		}
	}

	header := headerOf(c)
	base := e.cfg.PublicURL
	if base == "" {
		base = c.BaseURL()
	}
	req := &verify.Request{Method: c.Method(), URL: strings.TrimRight(base, "/") + string(c.Request().URI().RequestURI()), Header: header, Body: body, Now: start}
	if ent.preset.Handshake != nil {
		if hs := ent.preset.Handshake(req, ent.keys); hs != nil {
			e.requests.WithLabelValues(ent.store.Platform, "handshake").Inc()
			if hs.ContentType != "" {
				c.Set(fiber.HeaderContentType, hs.ContentType)
			}
			return c.Status(hs.Status).Send(hs.Body)
		}
	}
	if c.Method() != fiber.MethodPost {
		return edge.NewError(405, "method_not_allowed", "webhooks are POSTed")
	}
	res, err := ent.preset.Verify(req, ent.keys, ent.tolerance)
	if err != nil {
		status := 401
		if errors.Is(err, verify.ErrMalformed) {
			status = 400
		}
		return e.reject(c, status, verify.Reason(err), err.Error(), ent)
	}

	r := &row{
		id: uuid.Must(uuid.NewV7()).String(), tenant: ent.store.TenantID, storeID: ent.store.ID, platform: ent.store.Platform,
		eventID: res.EventID, eventType: res.EventType, size: len(body), authenticated: res.BodyAuthenticated, receivedAt: start.UTC(),
	}
	payload := bytes.Clone(body) // Fiber reuses its buffers once the handler returns
	sum := sha256.Sum256(payload)
	r.checksum = sum[:]
	r.headers, _ = json.Marshal(storedHeaders(header))
	e.normalize(r, payload, header, ent)
	if len(payload) > e.cfg.InlinePayloadMax {
		ref, err := e.objects.Put(ctx, r.id, payload)
		if err != nil {
			e.log.Error().Err(err).Msg("object store write failed")
			return e.reject(c, 503, "object_store", "cannot store the payload now; retry", ent)
		}
		r.payloadRef = ref
	} else {
		r.payload = payload
	}

	out := e.writer.write(ctx, r)
	if out.err != nil {
		reason := "store_unavailable"
		if errors.Is(out.err, errOverloaded) {
			reason = "overloaded"
		}
		return e.reject(c, 503, reason, "cannot store the webhook now; retry", ent)
	}
	result, id := "accepted", r.id
	if out.duplicate {
		result, id = "duplicate", out.id
	}
	e.requests.WithLabelValues(ent.store.Platform, result).Inc()
	e.ack.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return c.JSON(fiber.Map{"status": result, "id": id})
}

// maxInflated bounds a gzip body's decompressed size for normalisation.
const maxInflated = 16 << 20

// normalize fills the row's normalized JSON or its normalisation error. The raw payload is
// stored either way; a failure only means the order cannot be made from it automatically.
func (e *Edge) normalize(r *row, payload []byte, header http.Header, ent *storeEntry) {
	body := payload
	if enc := strings.ToLower(strings.TrimSpace(header.Get("Content-Encoding"))); enc == "gzip" || enc == "x-gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			r.normalizeError = "gzip: " + err.Error()
			return
		}
		inflated, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
		if err != nil || len(inflated) > maxInflated {
			r.normalizeError = "gzip: body too large or corrupt"
			return
		}
		body = inflated
	}
	var ne normalize.NormalizedEvent
	var err error
	if ent.mapping != nil {
		ne, err = normalize.NormalizeMapped(r.platform, r.eventType, body, ent.mapping)
	} else {
		ne, err = normalize.Normalize(r.platform, r.eventType, body, header.Get("Content-Type"))
	}
	if err != nil {
		r.normalizeError = err.Error()
		return
	}
	b, err := json.Marshal(ne)
	if err != nil {
		r.normalizeError = err.Error()
		return
	}
	r.normalized = b
}
