// Package bigcommerce pushes delivery status to BigCommerce stores with the REST v2 orders API:
// PUT /stores/{store_hash}/v2/orders/{id} with {"status_id": N}, authenticated by the store's
// API account token in X-Auth-Token.
//
// Setting the status an order already has changes nothing on BigCommerce (no status-change
// email, no history entry), so a push is idempotent by nature. A push still reads the order
// first (GET /v2/orders/{id}): it sends no PUT when the order has the status already, and none
// when the status is Stale, so that pushing an old job again (a retry of "assigned" that
// arrives after "delivered") does not take the order back.
//
// Status mapping, from BigCommerce's order statuses (GET /v2/order_statuses):
//
//	assigned  →  9 Awaiting Shipment             (packed, waiting for the carrier: a driver is coming)
//	picked_up →  2 Shipped                       (the parcel left the store with the driver)
//	delivered → 10 Completed                     (delivered: nothing left to do on the order)
//	failed    → 12 Manual Verification Required  (see below)
//	cancelled →  5 Cancelled
//
// BigCommerce has no "delivery failed" status. A failed delivery needs the merchant to decide
// (try again, refund, return to stock), and 12 Manual Verification Required is the status
// that holds an order until someone looks at it; the other candidates say something false:
// 6 Declined and 13 Disputed are about the payment, 8 Awaiting Pickup means the customer will
// collect it, and 11 Awaiting Fulfillment would hide that a delivery was attempted.
package bigcommerce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors"
)

// Platform is the platform name stores are registered with.
const Platform = "bigcommerce"

// BigCommerce order status ids used by the mapping.
const (
	StatusShipped            = 2
	StatusCancelled          = 5
	StatusAwaitingShipment   = 9
	StatusCompleted          = 10
	StatusManualVerification = 12
)

// Status ids a push never changes (see Stale).
const (
	statusRefunded          = 4
	statusPartiallyRefunded = 14
)

// StatusID returns the BigCommerce status_id a hub status sets (see the package doc).
func StatusID(hub string) (int, bool) {
	switch hub {
	case connectors.StatusAssigned:
		return StatusAwaitingShipment, true
	case connectors.StatusPickedUp:
		return StatusShipped, true
	case connectors.StatusDelivered:
		return StatusCompleted, true
	case connectors.StatusFailed:
		return StatusManualVerification, true
	case connectors.StatusCancelled:
		return StatusCancelled, true
	}
	return 0, false
}

// Config configures a Connector.
type Config struct {
	// HTTPClient makes the calls; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every call; default "dispatchhub-connector/1".
	UserAgent string
}

// Connector pushes statuses to BigCommerce.
type Connector struct {
	client    *http.Client
	userAgent string
}

var _ connectors.Connector = (*Connector)(nil)

// New returns a connector with cfg's defaults filled in.
func New(cfg Config) *Connector {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "dispatchhub-connector/1"
	}
	return &Connector{client: cfg.HTTPClient, userAgent: cfg.UserAgent}
}

// Platform implements connectors.Connector.
func (c *Connector) Platform() string { return Platform }

// DefaultBase is the store's API root, https://api.bigcommerce.com/stores/{store_hash} (the
// hash is the store's ExternalID), or "" without one.
func (c *Connector) DefaultBase(t connectors.Target) string {
	if t.ExternalID == "" {
		return ""
	}
	return "https://api.bigcommerce.com/stores/" + t.ExternalID
}

// Push implements connectors.Connector: read the order, PUT its status_id unless it has it or
// it is Stale.
func (c *Connector) Push(ctx context.Context, t connectors.Target, j connectors.Job) error {
	if len(t.Credential) == 0 {
		return fmt.Errorf("bigcommerce push %s: %w", j.ID, connectors.ErrNoCredential)
	}
	id, ok := StatusID(j.Status)
	if !ok {
		return fmt.Errorf("bigcommerce push %s: %w: status %q", j.ID, connectors.ErrInvalidJob, j.Status)
	}
	if !numeric(j.ExternalRef) {
		return fmt.Errorf("bigcommerce push %s: %w: want a numeric order id, got %q", j.ID, connectors.ErrInvalidJob, j.ExternalRef)
	}
	base := strings.TrimSuffix(t.APIBase, "/")
	if base == "" {
		base = c.DefaultBase(t)
	}
	if base == "" {
		return fmt.Errorf("bigcommerce push %s: %w", j.ID, connectors.ErrNoEndpoint)
	}
	r := request{c: c, url: base + "/v2/orders/" + j.ExternalRef, path: "/v2/orders/" + j.ExternalRef, token: string(t.Credential)}
	body, err := r.do(ctx, http.MethodGet, nil)
	if err != nil {
		return err
	}
	have, err := OrderStatusID(body)
	if err != nil {
		excerpt := body[:min(len(body), connectors.ExcerptLimit)]
		return &connectors.PlatformError{Platform: Platform, Op: "GET " + r.path, Status: http.StatusOK,
			Excerpt: strings.ToValidUTF8(string(excerpt), ""), Err: err}
	}
	if have == id || Stale(have, id) {
		return nil
	}
	put := strconv.AppendInt([]byte(`{"status_id":`), int64(id), 10)
	_, err = r.do(ctx, http.MethodPut, append(put, '}'))
	return err
}

// Stale reports whether setting status_id want on an order at have would take it back: the
// order is closed (Completed, Cancelled, Refunded, Partially Refunded), or want is a step of
// the delivery (Awaiting Shipment, Shipped) the order is past already. A push of a stale
// status (a late retry of "assigned" once the order shipped) leaves the order alone.
func Stale(have, want int) bool {
	switch have {
	case StatusCompleted, StatusCancelled, statusRefunded, statusPartiallyRefunded:
		return true
	}
	return progress(want) > 0 && progress(have) > progress(want)
}

// progress is how far along the delivery a status is: 0 when it is not a delivery step.
func progress(statusID int) int {
	switch statusID {
	case StatusAwaitingShipment:
		return 1
	case StatusShipped:
		return 2
	case StatusCompleted:
		return 3
	}
	return 0
}

// errUnreadable is a 2xx answer that is not an order.
var errUnreadable = errors.New("unreadable answer")

// OrderStatusID reads the status_id of a GET /v2/orders/{id} answer.
func OrderStatusID(body []byte) (int, error) {
	if !gjson.ValidBytes(body) {
		return 0, fmt.Errorf("%w: order is not JSON", errUnreadable)
	}
	v := gjson.GetBytes(body, "status_id")
	if v.Type != gjson.Number || v.Num != float64(int(v.Num)) || v.Num < 0 || v.Num > 1000 {
		return 0, fmt.Errorf("%w: order has no status_id", errUnreadable)
	}
	return int(v.Num), nil
}

// request is the calls of one push about one order.
type request struct {
	c     *Connector
	url   string // the order's URL
	path  string // its path, for errors
	token string
}

// do calls the order's URL and returns the body of a 2xx answer (at most maxBody bytes);
// anything else is a *connectors.PlatformError.
func (r request) do(ctx context.Context, method string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url, rd)
	if err != nil {
		return nil, fmt.Errorf("bigcommerce %s %s: %w", method, r.path, err)
	}
	req.Header["X-Auth-Token"] = []string{r.token}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", r.c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.c.client.Do(req)
	if err != nil {
		return nil, &connectors.PlatformError{Platform: Platform, Op: method + " " + r.path, Err: err}
	}
	defer resp.Body.Close()
	limit := int64(maxBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = connectors.ExcerptLimit
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, &connectors.PlatformError{Platform: Platform, Op: method + " " + r.path, Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return out, nil
	}
	e := connectors.HTTPError(Platform, method+" "+r.path, resp, out)
	if e.Throttled && e.RetryAfter == 0 {
		// BigCommerce sends its rate headers with every answer; only a 429's says how long to wait.
		e.RetryAfter = ResetWait(resp.Header.Get("X-Rate-Limit-Time-Reset-Ms"))
	}
	return nil, e
}

// maxBody is the most of an order read: its status_id is near the start of a few kilobytes.
const maxBody = 1 << 20

// ResetWait reads X-Rate-Limit-Time-Reset-Ms, the milliseconds until BigCommerce's rate
// window resets: zero when absent or unreadable, at most an hour.
func ResetWait(v string) time.Duration {
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return time.Duration(min(ms, time.Hour.Milliseconds())) * time.Millisecond
}

func numeric(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
