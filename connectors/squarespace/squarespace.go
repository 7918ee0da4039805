// Package squarespace pushes delivery status to Squarespace stores through the Commerce Orders
// API. Squarespace shows one thing of a delivery: that the order is fulfilled, with its
// shipments. The driver picking the parcel up fulfils the order (with the hub's tracking as
// its shipment); every other status is a no-op.
package squarespace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
)

// Platform is the platform name Squarespace stores are registered with.
const Platform = "squarespace"

// DefaultAPIBase is Squarespace's API address.
const DefaultAPIBase = "https://api.squarespace.com"

const (
	// DefaultUserAgent identifies the hub; Squarespace rejects requests without a User-Agent.
	DefaultUserAgent = "dispatchhub"
	// DefaultService is the carrier's level of service a shipment shows.
	DefaultService = "local delivery"
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 64 << 10
)

// Config configures the connector.
type Config struct {
	// HTTPClient makes the calls; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request; "" is DefaultUserAgent.
	UserAgent string
	// Service is the shipment's level of service; "" is DefaultService.
	Service string
}

// Connector is the Squarespace connector.
type Connector struct {
	client    *http.Client
	userAgent string
	service   string
}

var _ connectors.Connector = (*Connector)(nil)

// New returns a Squarespace connector with cfg's defaults filled.
func New(cfg Config) *Connector {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	return &Connector{client: cfg.HTTPClient, userAgent: cfg.UserAgent, service: cfg.Service}
}

// Platform returns "squarespace".
func (c *Connector) Platform() string { return Platform }

// DefaultBase returns DefaultAPIBase: every Squarespace store is served by the same API.
func (c *Connector) DefaultBase(connectors.Target) string { return DefaultAPIBase }

// Supports reports whether Squarespace can show status: only picked_up, as the order's
// fulfilment.
func Supports(status string) bool { return status == connectors.StatusPickedUp }

type shipment struct {
	ShipDate       string `json:"shipDate"`
	CarrierName    string `json:"carrierName"`
	Service        string `json:"service"`
	TrackingNumber string `json:"trackingNumber"`
	TrackingURL    string `json:"trackingUrl,omitempty"`
}

type fulfilRequest struct {
	ShouldSendNotification bool       `json:"shouldSendNotification"`
	Shipments              []shipment `json:"shipments"`
}

// Push fulfils the order j.ExternalRef when j is picked_up; other statuses return nil without
// a request.
//
// The call carries Idempotency-Key: j.ID, so a retried push (after a timeout, a 5xx, a lost
// answer) is answered with the first answer and fulfils the order once; Squarespace keeps keys
// for 24 hours, longer than the hub retries a job.
//
// 409 Conflict means the order is fulfilled already, under another key (another job, or the
// merchant by hand): the status the job asks for is on the platform, so Push returns nil. The
// shipment of this job is then not added; the customer has been told the order is on its way.
func (c *Connector) Push(ctx context.Context, t connectors.Target, j connectors.Job) error {
	if err := j.Validate(); err != nil {
		return fmt.Errorf("squarespace push %s: %w", j.ID, err)
	}
	if !Supports(j.Status) {
		return nil
	}
	if len(t.Credential) == 0 {
		return fmt.Errorf("squarespace push %s to store %s: %w", j.ID, t.StoreID, connectors.ErrNoCredential)
	}
	base := strings.TrimRight(t.APIBase, "/")
	if base == "" {
		base = c.DefaultBase(t)
	}
	body, err := json.Marshal(c.fulfilment(j))
	if err != nil {
		return fmt.Errorf("squarespace push %s: encode request: %w", j.ID, err)
	}
	endpoint := base + "/1.0/commerce/orders/" + url.PathEscape(j.ExternalRef) + "/fulfillments"
	op := "POST /1.0/commerce/orders/" + j.ExternalRef + "/fulfillments"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("squarespace push %s: %w", j.ID, err)
	}
	req.Header.Set("Authorization", "Bearer "+string(t.Credential))
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", j.ID)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("squarespace push %s: %w", j.ID, &connectors.PlatformError{Platform: Platform, Op: op, Err: err})
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299, resp.StatusCode == http.StatusConflict:
		return nil // fulfilled now, or already: see the doc comment
	case err != nil:
		return fmt.Errorf("squarespace push %s: %w", j.ID, &connectors.PlatformError{Platform: Platform, Op: op,
			Err: fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)})
	}
	return fmt.Errorf("squarespace push %s: %w", j.ID, connectors.HTTPError(Platform, op, resp, answer))
}

// fulfilment is the request that fulfils j's order: notifying the customer, with the hub's
// tracking as the shipment when there is a carrier and a number (Squarespace requires both).
func (c *Connector) fulfilment(j connectors.Job) fulfilRequest {
	r := fulfilRequest{ShouldSendNotification: true, Shipments: []shipment{}}
	if j.Tracking.Company == "" || j.Tracking.Number == "" {
		return r
	}
	at := j.OccurredAt
	if at.IsZero() {
		at = time.Now()
	}
	r.Shipments = append(r.Shipments, shipment{
		ShipDate: at.UTC().Format(time.RFC3339), CarrierName: j.Tracking.Company, Service: c.service,
		TrackingNumber: j.Tracking.Number, TrackingURL: j.Tracking.URL,
	})
	return r
}
