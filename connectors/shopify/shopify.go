// Package shopify pushes delivery status to Shopify stores through the GraphQL Admin API.
//
// The delivery is a fulfillment of the order, carrying the hub's tracking: assigned creates it
// (or moves its tracking to the new job when the order was re-assigned), picked up, delivered
// and failed add a fulfillment event (IN_TRANSIT, DELIVERED, FAILURE), and cancelled cancels
// it. None of these mutations takes an idempotency key, so every push reads the order's
// fulfillments first and writes only what is missing; a push interrupted between two calls
// finishes the rest when it is retried.
package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors"
)

// Platform is the platform name Shopify stores are registered with.
const Platform = "shopify"

// DefaultAPIVersion is the Admin API version used when Config.APIVersion is empty.
const DefaultAPIVersion = "2025-01"

const (
	userAgent = "dispatchhub"
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 4 << 20
)

// eventStatus maps the statuses pushed as fulfillment events to Shopify's
// FulfillmentEventStatus.
var eventStatus = map[string]string{
	connectors.StatusPickedUp:  "IN_TRANSIT",
	connectors.StatusDelivered: "DELIVERED",
	connectors.StatusFailed:    "FAILURE",
}

// Config configures the connector.
type Config struct {
	// HTTPClient makes the calls; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// APIVersion is the Admin API version in the endpoint path; "" is DefaultAPIVersion.
	APIVersion string
}

// Connector is the Shopify connector.
type Connector struct {
	client  *http.Client
	version string
}

var _ connectors.Connector = (*Connector)(nil)

// New returns a Shopify connector with cfg's defaults filled.
func New(cfg Config) *Connector {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	return &Connector{client: cfg.HTTPClient, version: cfg.APIVersion}
}

// Platform returns "shopify".
func (c *Connector) Platform() string { return Platform }

// DefaultBase is the shop's own address: its domain when ExternalID is one
// ("shop.example.com", "acme.myshopify.com"), else ExternalID taken as the myshopify handle.
func (c *Connector) DefaultBase(t connectors.Target) string {
	switch {
	case t.ExternalID == "":
		return ""
	case strings.Contains(t.ExternalID, "."):
		return "https://" + t.ExternalID
	}
	return "https://" + t.ExternalID + ".myshopify.com"
}

// OrderGID returns the Admin API id of an order: ref as is when it is a gid already, else the
// gid of the numeric order id ref.
func OrderGID(ref string) string {
	if strings.HasPrefix(ref, "gid://") {
		return ref
	}
	return "gid://shopify/Order/" + ref
}

// Push makes j's status true on the order j.ExternalRef of the shop t.
func (c *Connector) Push(ctx context.Context, t connectors.Target, j connectors.Job) error {
	if err := j.Validate(); err != nil {
		return fmt.Errorf("shopify push %s: %w", j.ID, err)
	}
	if len(t.Credential) == 0 {
		return fmt.Errorf("shopify push %s to store %s: %w", j.ID, t.StoreID, connectors.ErrNoCredential)
	}
	base := strings.TrimRight(t.APIBase, "/")
	if base == "" {
		base = c.DefaultBase(t)
	}
	if base == "" {
		return fmt.Errorf("shopify push %s to store %s: %w", j.ID, t.StoreID, connectors.ErrNoEndpoint)
	}
	s := &session{client: c.client, endpoint: base + "/admin/api/" + c.version + "/graphql.json",
		token: string(t.Credential), order: OrderGID(j.ExternalRef)}
	var err error
	switch j.Status {
	case connectors.StatusAssigned:
		err = s.assign(ctx, j)
	case connectors.StatusCancelled:
		err = s.cancel(ctx, j)
	default:
		err = s.event(ctx, j, eventStatus[j.Status])
	}
	if err != nil {
		return fmt.Errorf("shopify %s order %s: %w", j.Status, j.ExternalRef, err)
	}
	return nil
}

// session is one push: the shop's endpoint, its token and the order.
type session struct {
	client   *http.Client
	endpoint string
	token    string
	order    string // the order's gid
}

// assign makes the job's tracking the order's: done when a live fulfillment carries it
// already, moved onto the live fulfillment when the order was re-assigned to another driver,
// else a new fulfillment.
func (s *session) assign(ctx context.Context, j connectors.Job) error {
	st, err := s.read(ctx)
	if err != nil {
		return err
	}
	if f := st.live(j.Tracking.Number); f != nil {
		if j.Tracking.Number == "" || f.carries(j.Tracking.Number) {
			return nil
		}
		return s.updateTracking(ctx, f.ID, j.Tracking)
	}
	_, err = s.create(ctx, st, j.Tracking)
	return err
}

// event adds the fulfillment event status to the order's live fulfillment, creating the
// fulfillment first when there is none; nothing when the fulfillment has that event already.
func (s *session) event(ctx context.Context, j connectors.Job, status string) error {
	st, err := s.read(ctx)
	if err != nil {
		return err
	}
	f := st.live(j.Tracking.Number)
	if f == nil {
		id, err := s.create(ctx, st, j.Tracking)
		if err != nil {
			return err
		}
		f = &fulfillment{ID: id}
	}
	if f.hasEvent(status) {
		return nil
	}
	return s.createEvent(ctx, f.ID, status, j)
}

// cancel cancels the order's live fulfillment; nothing when there is none.
func (s *session) cancel(ctx context.Context, j connectors.Job) error {
	st, err := s.read(ctx)
	if err != nil {
		return err
	}
	f := st.live(j.Tracking.Number)
	if f == nil {
		return nil
	}
	return s.cancelFulfillment(ctx, f.ID)
}

// orderState is what a push needs to know of an order.
type orderState struct {
	Fulfillments      []fulfillment `json:"fulfillments"`
	FulfillmentOrders struct {
		Nodes []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"nodes"`
	} `json:"fulfillmentOrders"`
}

type fulfillment struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	TrackingInfo []struct {
		Number string `json:"number"`
	} `json:"trackingInfo"`
	Events struct {
		Nodes []struct {
			Status string `json:"status"`
		} `json:"nodes"`
	} `json:"events"`
}

// live returns the fulfillment a push is about: the live one carrying number, else the latest
// live one, else nil. Cancelled fulfillments, and those a fulfillment service failed, are not
// live.
func (st *orderState) live(number string) *fulfillment {
	var latest *fulfillment
	for i := range st.Fulfillments {
		f := &st.Fulfillments[i]
		switch f.Status {
		case "CANCELLED", "ERROR", "FAILURE":
			continue
		}
		if number != "" && f.carries(number) {
			return f
		}
		latest = f
	}
	return latest
}

func (f *fulfillment) carries(number string) bool {
	for _, ti := range f.TrackingInfo {
		if ti.Number == number {
			return true
		}
	}
	return false
}

func (f *fulfillment) hasEvent(status string) bool {
	for _, e := range f.Events.Nodes {
		if e.Status == status {
			return true
		}
	}
	return false
}

const orderQuery = `query DispatchOrderFulfillments($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 25) {
      id
      status
      trackingInfo(first: 10) { number }
      events(first: 100) { nodes { status } }
    }
    fulfillmentOrders(first: 25) { nodes { id status } }
  }
}`

// read returns the order's fulfillments and fulfillment orders.
func (s *session) read(ctx context.Context) (*orderState, error) {
	data, err := s.do(ctx, "order", orderQuery, map[string]any{"id": s.order})
	if err != nil {
		return nil, err
	}
	order := data.Get("order")
	if !order.IsObject() {
		return nil, &connectors.PlatformError{Platform: Platform, Op: "order", Status: http.StatusOK, Permanent: true,
			Excerpt: "order " + s.order + " not found"}
	}
	var st orderState
	if err := json.Unmarshal([]byte(order.Raw), &st); err != nil {
		return nil, &connectors.PlatformError{Platform: Platform, Op: "order", Status: http.StatusOK,
			Excerpt: "unreadable order: " + err.Error()}
	}
	return &st, nil
}

type trackingInput struct {
	Company string `json:"company,omitempty"`
	Number  string `json:"number,omitempty"`
	URL     string `json:"url,omitempty"`
}

func trackingOf(t connectors.Tracking) *trackingInput {
	if t.Company == "" && t.Number == "" && t.URL == "" {
		return nil
	}
	return &trackingInput{Company: t.Company, Number: t.Number, URL: t.URL}
}

const fulfillmentCreate = `mutation DispatchFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}`

// create fulfils the order's open fulfillment orders with tracking, without notifying the
// customer, and returns the new fulfillment's id.
func (s *session) create(ctx context.Context, st *orderState, tracking connectors.Tracking) (string, error) {
	type lineItems struct {
		FulfillmentOrderID string `json:"fulfillmentOrderId"`
	}
	var open []lineItems
	for _, fo := range st.FulfillmentOrders.Nodes {
		if fo.Status == "OPEN" || fo.Status == "IN_PROGRESS" {
			open = append(open, lineItems{FulfillmentOrderID: fo.ID})
		}
	}
	if len(open) == 0 {
		return "", &connectors.PlatformError{Platform: Platform, Op: "fulfillmentCreate", Permanent: true,
			Excerpt: "order " + s.order + " has no open fulfillment order"}
	}
	in := struct {
		LineItemsByFulfillmentOrder []lineItems    `json:"lineItemsByFulfillmentOrder"`
		NotifyCustomer              bool           `json:"notifyCustomer"`
		TrackingInfo                *trackingInput `json:"trackingInfo,omitempty"`
	}{open, false, trackingOf(tracking)}
	payload, err := s.mutate(ctx, "fulfillmentCreate", fulfillmentCreate, map[string]any{"fulfillment": in})
	if err != nil {
		return "", err
	}
	id := payload.Get("fulfillment.id").String()
	if id == "" {
		return "", &connectors.PlatformError{Platform: Platform, Op: "fulfillmentCreate", Status: http.StatusOK,
			Excerpt: "no fulfillment in the answer: " + excerpt([]byte(payload.Raw))}
	}
	return id, nil
}

const fulfillmentTrackingInfoUpdate = `mutation DispatchTrackingUpdate($fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput, notifyCustomer: $notifyCustomer) {
    fulfillment { id }
    userErrors { field message }
  }
}`

func (s *session) updateTracking(ctx context.Context, id string, tracking connectors.Tracking) error {
	_, err := s.mutate(ctx, "fulfillmentTrackingInfoUpdate", fulfillmentTrackingInfoUpdate, map[string]any{
		"fulfillmentId": id, "trackingInfoInput": trackingOf(tracking), "notifyCustomer": false})
	return err
}

const fulfillmentEventCreate = `mutation DispatchFulfillmentEvent($fulfillmentEvent: FulfillmentEventInput!) {
  fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent) {
    fulfillmentEvent { id status }
    userErrors { field message }
  }
}`

func (s *session) createEvent(ctx context.Context, id, status string, j connectors.Job) error {
	in := struct {
		FulfillmentID string `json:"fulfillmentId"`
		Status        string `json:"status"`
		HappenedAt    string `json:"happenedAt,omitempty"`
		Message       string `json:"message,omitempty"`
	}{FulfillmentID: id, Status: status, Message: j.Reason}
	if !j.OccurredAt.IsZero() {
		in.HappenedAt = j.OccurredAt.UTC().Format(time.RFC3339)
	}
	_, err := s.mutate(ctx, "fulfillmentEventCreate", fulfillmentEventCreate, map[string]any{"fulfillmentEvent": in})
	return err
}

const fulfillmentCancel = `mutation DispatchFulfillmentCancel($id: ID!) {
  fulfillmentCancel(id: $id) {
    fulfillment { id status }
    userErrors { field message }
  }
}`

func (s *session) cancelFulfillment(ctx context.Context, id string) error {
	_, err := s.mutate(ctx, "fulfillmentCancel", fulfillmentCancel, map[string]any{"id": id})
	return err
}

// do posts one GraphQL operation and returns the answer's data.
func (s *session) do(ctx context.Context, op, query string, vars map[string]any) (gjson.Result, error) {
	payload, err := json.Marshal(struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}{query, vars})
	if err != nil {
		return gjson.Result{}, fmt.Errorf("shopify %s: encode request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(payload))
	if err != nil {
		return gjson.Result{}, fmt.Errorf("shopify %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Shopify-Access-Token", s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Err: fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return gjson.Result{}, connectors.HTTPError(Platform, op, resp, body)
	}
	return decode(op, body)
}

// mutate runs a mutation and returns its payload (data.{op}); userErrors make a permanent
// error: the shop refuses the change as asked.
func (s *session) mutate(ctx context.Context, op, query string, vars map[string]any) (gjson.Result, error) {
	data, err := s.do(ctx, op, query, vars)
	if err != nil {
		return gjson.Result{}, err
	}
	payload := data.Get(op)
	if ue := payload.Get("userErrors"); ue.IsArray() && len(ue.Array()) > 0 {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Status: http.StatusOK, Permanent: true,
			Excerpt: "userErrors: " + excerpt([]byte(ue.Raw))}
	}
	if !payload.IsObject() {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Status: http.StatusOK,
			Excerpt: "no " + op + " in the answer"}
	}
	return payload, nil
}
