// Package woocommerce pushes delivery status to WooCommerce shops over the REST API v3
// (/wp-json/wc/v3), authenticated with the shop's consumer key and secret over HTTP Basic.
//
// WooCommerce has no idempotency keys, so a push reads before it writes. Its last write is an
// order note carrying the marker "[dispatchhub:<job id>]": a push first reads the order's
// notes and stops when one carries the marker (the job was applied); otherwise it reads the
// order, updates its status only when it differs, and adds the note. A push tried again after
// a partial failure (status set, note not added) therefore changes nothing twice, and pushing
// an old job again does not take the order back. A status is never set over a Closed one.
//
// Status mapping (WooCommerce has no shipping states between "processing" and "completed"; the
// order note tells the merchant which step the delivery is at):
//
//	assigned  → processing  (a driver accepted it; the order is still being fulfilled)
//	picked_up → processing  (the driver has the parcel; still in fulfilment)
//	delivered → completed   (fulfilled and complete)
//	failed    → failed      (WooCommerce's "failed": the merchant must act on the order)
//	cancelled → cancelled
package woocommerce

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors"
)

// Platform is the platform name stores are registered with.
const Platform = "woocommerce"

// ordersPath is the REST API v3 orders route.
const ordersPath = "/wp-json/wc/v3/orders/"

// Status returns the WooCommerce order status a hub status sets (see the package doc).
func Status(hub string) (string, bool) {
	switch hub {
	case connectors.StatusAssigned, connectors.StatusPickedUp:
		return "processing", true
	case connectors.StatusDelivered:
		return "completed", true
	case connectors.StatusFailed:
		return "failed", true
	case connectors.StatusCancelled:
		return "cancelled", true
	}
	return "", false
}

// Config configures a Connector.
type Config struct {
	// HTTPClient makes the calls; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every call; default "dispatchhub-connector/1".
	UserAgent string
	// MaxBody is the most of an answer read, in bytes; default 4 MiB. An order or its notes
	// larger than that is an error.
	MaxBody int64
}

// Connector pushes statuses to WooCommerce.
type Connector struct {
	client    *http.Client
	userAgent string
	maxBody   int64
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
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 20
	}
	return &Connector{client: cfg.HTTPClient, userAgent: cfg.UserAgent, maxBody: cfg.MaxBody}
}

// Platform implements connectors.Connector.
func (c *Connector) Platform() string { return Platform }

// DefaultBase is https:// and the shop's domain (the store's ExternalID), or "" without one.
func (c *Connector) DefaultBase(t connectors.Target) string {
	if t.ExternalID == "" {
		return ""
	}
	return "https://" + t.ExternalID
}

// Closed reports whether a WooCommerce order status is one a push leaves alone: the order is
// complete, cancelled, refunded or trashed, so a status that arrives after it (a late retry of
// "assigned" once the order is completed) is out of date. Its note is still added.
func Closed(status string) bool {
	switch status {
	case "completed", "cancelled", "refunded", "trash":
		return true
	}
	return false
}

// Marker is the text a push puts in its order note, by which a later push of the same job
// finds it.
func Marker(jobID string) string { return "[dispatchhub:" + jobID + "]" }

// Push implements connectors.Connector: unless the order has the job's note already, set the
// order's status when it differs (and the order is not Closed), then add the note.
func (c *Connector) Push(ctx context.Context, t connectors.Target, j connectors.Job) error {
	if len(t.Credential) == 0 {
		return fmt.Errorf("woocommerce push %s: %w", j.ID, connectors.ErrNoCredential)
	}
	if i := bytes.IndexByte(t.Credential, ':'); i <= 0 || i == len(t.Credential)-1 {
		return fmt.Errorf("woocommerce push %s: %w: want consumer_key:consumer_secret", j.ID, connectors.ErrNoCredential)
	}
	want, ok := Status(j.Status)
	if !ok {
		return fmt.Errorf("woocommerce push %s: %w: status %q", j.ID, connectors.ErrInvalidJob, j.Status)
	}
	if j.ID == "" || !numeric(j.ExternalRef) {
		return fmt.Errorf("woocommerce push %s: %w: want a job id and a numeric order id, got %q", j.ID, connectors.ErrInvalidJob, j.ExternalRef)
	}
	base := strings.TrimSuffix(t.APIBase, "/")
	if base == "" {
		base = c.DefaultBase(t)
	}
	if base == "" {
		return fmt.Errorf("woocommerce push %s: %w", j.ID, connectors.ErrNoEndpoint)
	}
	r := request{c: c, base: base, auth: "Basic " + base64.StdEncoding.EncodeToString(t.Credential)}
	order := ordersPath + j.ExternalRef
	notes := order + "/notes"

	// The job's note is the last thing a push writes: when the order has it, the job is done.
	body, err := r.do(ctx, http.MethodGet, notes+"?type=internal", nil)
	if err != nil {
		return err
	}
	found, err := HasNote(body, Marker(j.ID))
	if err != nil {
		return r.unreadable(http.MethodGet, notes, body, err)
	}
	if found {
		return nil
	}

	body, err = r.do(ctx, http.MethodGet, order, nil)
	if err != nil {
		return err
	}
	have, err := OrderStatus(body)
	if err != nil {
		return r.unreadable(http.MethodGet, order, body, err)
	}
	if have != want && !Closed(have) {
		if _, err := r.do(ctx, http.MethodPut, order, []byte(`{"status":"`+want+`"}`)); err != nil {
			return err
		}
	}

	note, err := json.Marshal(struct {
		Note         string `json:"note"`
		CustomerNote bool   `json:"customer_note"`
	}{NoteText(j), false})
	if err != nil {
		return fmt.Errorf("woocommerce push %s: encode note: %w", j.ID, err)
	}
	_, err = r.do(ctx, http.MethodPost, notes, note)
	return err
}

// NoteText is the order note of j: what happened, in words for the merchant, the tracking,
// and the job's Marker.
func NoteText(j connectors.Job) string {
	var b strings.Builder
	driver := "The driver"
	if j.DriverID != "" {
		driver = "Driver " + j.DriverID
	}
	switch j.Status {
	case connectors.StatusAssigned:
		b.WriteString(driver + " was assigned to the order.")
	case connectors.StatusPickedUp:
		b.WriteString(driver + " picked up the order.")
	case connectors.StatusDelivered:
		b.WriteString(driver + " delivered the order.")
	case connectors.StatusFailed:
		b.WriteString(driver + " could not deliver the order")
	case connectors.StatusCancelled:
		b.WriteString("The delivery was cancelled")
	}
	if j.Status == connectors.StatusFailed || j.Status == connectors.StatusCancelled {
		if j.Reason != "" {
			b.WriteString(": " + j.Reason)
		}
		b.WriteByte('.')
	}
	if tr := j.Tracking; tr.Number != "" {
		b.WriteString(" Tracking")
		if tr.Company != "" {
			b.WriteString(" (" + tr.Company + ")")
		}
		b.WriteString(" " + tr.Number)
		if tr.URL != "" {
			b.WriteString(" " + tr.URL)
		}
	}
	b.WriteString(" " + Marker(j.ID))
	return b.String()
}

// errUnreadable is a 2xx answer that is not what the route returns (a maintenance page, a
// plugin's output before the JSON).
var errUnreadable = errors.New("unreadable answer")

// OrderStatus reads the status of a GET /orders/{id} answer.
func OrderStatus(body []byte) (string, error) {
	if !gjson.ValidBytes(body) {
		return "", fmt.Errorf("%w: order is not JSON", errUnreadable)
	}
	v := gjson.GetBytes(body, "status")
	if v.Type != gjson.String || v.Str == "" {
		return "", fmt.Errorf("%w: order has no status", errUnreadable)
	}
	return v.Str, nil
}

// HasNote reports whether a GET /orders/{id}/notes answer has a note containing marker.
func HasNote(body []byte, marker string) (bool, error) {
	if !gjson.ValidBytes(body) {
		return false, fmt.Errorf("%w: notes are not JSON", errUnreadable)
	}
	list := gjson.ParseBytes(body)
	if !list.IsArray() {
		return false, fmt.Errorf("%w: notes are not a list", errUnreadable)
	}
	found := false
	list.ForEach(func(_, n gjson.Result) bool {
		v := n.Get("note")
		found = v.Type == gjson.String && strings.Contains(v.Str, marker)
		return !found
	})
	return found, nil
}

// request is the calls of one push to one shop.
type request struct {
	c    *Connector
	base string
	auth string
}

// do calls path on the shop and returns the body of a 2xx answer; anything else is a
// *connectors.PlatformError.
func (r request) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("woocommerce %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", r.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", r.c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.c.client.Do(req)
	if err != nil {
		return nil, &connectors.PlatformError{Platform: Platform, Op: op(method, path), Err: err}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, r.c.maxBody+1))
	if err != nil {
		return nil, &connectors.PlatformError{Platform: Platform, Op: op(method, path), Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, connectors.HTTPError(Platform, op(method, path), resp, out)
	}
	if int64(len(out)) > r.c.maxBody {
		return nil, &connectors.PlatformError{Platform: Platform, Op: op(method, path), Status: resp.StatusCode,
			Err: fmt.Errorf("%w: answer larger than %d bytes", errUnreadable, r.c.maxBody)}
	}
	return out, nil
}

// unreadable is the error of a 2xx answer that does not parse.
func (r request) unreadable(method, path string, body []byte, err error) error {
	excerpt := body
	if len(excerpt) > connectors.ExcerptLimit {
		excerpt = excerpt[:connectors.ExcerptLimit]
	}
	return &connectors.PlatformError{Platform: Platform, Op: op(method, path), Status: http.StatusOK,
		Excerpt: strings.ToValidUTF8(string(excerpt), ""), Err: err}
}

// op names a call in errors: the method and the path without its query.
func op(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	return method + " " + path
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
