// Package webhook pushes delivery status to any store without a connector of its own: a
// JSON event POSTed to the store's endpoint (its APIBase, the full URL), signed the Standard
// Webhooks way (https://www.standardwebhooks.com) with the store's signing secret.
//
// Every status is sent ("order.assigned", "order.picked_up", "order.delivered",
// "order.failed", "order.cancelled"). Receivers de-duplicate by webhook-id, which is the job's
// id, and the body is a function of the job alone, so a job sent again (a retry, a replay from
// the dead letters) is the same message: only webhook-timestamp and the signature change.
//
// Any answer but a 2xx is a failure; redirects are not followed by the default client (a
// POST must not turn into a GET elsewhere), so a 3xx is a failure too.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
)

// Platform is the connector's platform name.
const Platform = "webhook"

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Event is the body of a delivery.
type Event struct {
	Type      string    `json:"type"`      // "order." + the status
	Timestamp string    `json:"timestamp"` // when it happened (the job's OccurredAt), RFC 3339
	Data      EventData `json:"data"`
}

// EventData is the job as the store is told about it.
type EventData struct {
	JobID       string              `json:"job_id"`
	Tenant      string              `json:"tenant"`
	StoreID     string              `json:"store_id"`
	OrderID     string              `json:"order_id"`     // the hub's order id
	ExternalRef string              `json:"external_ref"` // the store's order id
	Status      string              `json:"status"`
	Event       string              `json:"event"` // the domain event it comes from
	DriverID    string              `json:"driver_id"`
	Tracking    connectors.Tracking `json:"tracking"`
	Reason      string              `json:"reason"`
	OccurredAt  time.Time           `json:"occurred_at"`
}

// Config configures a Connector.
type Config struct {
	// HTTPClient makes the calls; nil: a client with a 10 s timeout that does not follow
	// redirects.
	HTTPClient *http.Client
	// UserAgent is sent with every call; default "dispatchhub-webhook/1".
	UserAgent string
	// Now is the clock of webhook-timestamp; default time.Now.
	Now func() time.Time
}

// Connector sends signed webhooks.
type Connector struct {
	client    *http.Client
	userAgent string
	now       func() time.Time
}

var _ connectors.Connector = (*Connector)(nil)

// New returns a connector with cfg's defaults filled in.
func New(cfg Config) *Connector {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "dispatchhub-webhook/1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Connector{client: cfg.HTTPClient, userAgent: cfg.UserAgent, now: cfg.Now}
}

// Platform implements connectors.Connector.
func (c *Connector) Platform() string { return Platform }

// DefaultBase is "": a webhook store must configure its endpoint.
func (c *Connector) DefaultBase(connectors.Target) string { return "" }

// Push implements connectors.Connector: one signed POST to t.APIBase.
func (c *Connector) Push(ctx context.Context, t connectors.Target, j connectors.Job) error {
	if len(t.Credential) == 0 {
		return fmt.Errorf("webhook push %s: %w", j.ID, connectors.ErrNoCredential)
	}
	if t.APIBase == "" {
		return fmt.Errorf("webhook push %s: %w", j.ID, connectors.ErrNoEndpoint)
	}
	if j.ID == "" || !connectors.ValidStatus(j.Status) {
		return fmt.Errorf("webhook push %s: %w: want a job id and a status, got status %q", j.ID, connectors.ErrInvalidJob, j.Status)
	}
	key, err := SigningKey(t.Credential)
	if err != nil {
		return fmt.Errorf("webhook push %s: %w", j.ID, err)
	}
	body, err := Body(j)
	if err != nil {
		return fmt.Errorf("webhook push %s: %w", j.ID, err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.APIBase, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook push %s: %w", j.ID, err)
	}
	req.Header.Set(HeaderID, j.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(key, j.ID, ts, body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return &connectors.PlatformError{Platform: Platform, Op: "POST", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, connectors.ExcerptLimit))
	return connectors.HTTPError(Platform, "POST", resp, excerpt)
}

// Body is the delivery of j: the same bytes every time j is sent.
func Body(j connectors.Job) ([]byte, error) {
	b, err := json.Marshal(Event{
		Type:      "order." + j.Status,
		Timestamp: j.OccurredAt.UTC().Format(time.RFC3339),
		Data: EventData{JobID: j.ID, Tenant: j.Tenant, StoreID: j.StoreID, OrderID: j.OrderID,
			ExternalRef: j.ExternalRef, Status: j.Status, Event: j.Event, DriverID: j.DriverID,
			Tracking: j.Tracking, Reason: j.Reason, OccurredAt: j.OccurredAt},
	})
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return b, nil
}

// SigningKey returns the HMAC key of a store's credential: a Standard Webhooks secret
// ("whsec_" + base64) decoded, any other credential as its raw bytes. An undecodable whsec_
// secret is connectors.ErrNoCredential.
func SigningKey(credential []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(credential, []byte("whsec_"))
	if !ok {
		return credential, nil
	}
	s := strings.TrimSpace(string(rest))
	enc := base64.StdEncoding
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: whsec_ secret is not base64", connectors.ErrNoCredential)
	}
	return key, nil
}

// Sign returns the webhook-signature of a delivery: "v1," and the base64 HMAC-SHA256 of
// id.timestamp.body under key.
func Sign(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	var sum [sha256.Size]byte
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
}
