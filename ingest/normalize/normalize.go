// Package normalize turns one store webhook payload into one NormalizedEvent: what the
// dispatch engine needs of an order (ids, addresses, items, recipient, totals) in one shape,
// whatever the platform that sent it.
//
// It is pure: no I/O, no clock, no state. Signatures are verified, and the raw payload is
// stored, before it is called; when it fails the caller keeps the raw event and the *Error
// says why. Platforms whose webhooks carry only an id (BigCommerce, Ecwid, Squarespace,
// Tiendanube, Uber Eats, Etsy, Square without the order) give an event with NeedsRefetch set:
// a connector fetches the order from the platform's API.
//
// Money stays a decimal string exactly as the platform wrote it; amounts a platform sends in
// minor units (cents) are written out as decimals with the currency's number of digits.
// Nothing is ever converted through a float.
package normalize

import (
	"errors"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Kind is what an event means for the order it is about.
type Kind string

// The kinds of events.
const (
	OrderCreated   Kind = "order.created"
	OrderUpdated   Kind = "order.updated"
	OrderCancelled Kind = "order.cancelled"
	// Ignored is a valid event that is not about an order (products, customers,
	// app/uninstalled, ...). It carries no order fields.
	Ignored Kind = "ignored"
)

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case OrderCreated, OrderUpdated, OrderCancelled, Ignored:
		return true
	}
	return false
}

// Point is a WGS84 position, in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Address is a postal address as the platform wrote it. Point is set only when the payload
// carries coordinates that are on Earth.
type Address struct {
	Name       string `json:"name,omitempty"`
	Company    string `json:"company,omitempty"`
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Point      *Point `json:"point,omitempty"`
}

// Item is one order line. UnitPrice is a decimal string as sent (or written out from minor
// units), empty when unknown.
type Item struct {
	SKU       string  `json:"sku,omitempty"`
	Name      string  `json:"name,omitempty"`
	Quantity  float64 `json:"quantity"`
	UnitPrice string  `json:"unit_price,omitempty"`
}

// Contact is the recipient of the order, as little as a driver needs.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// Totals are decimal strings; a field the payload does not carry is empty.
type Totals struct {
	Currency string `json:"currency,omitempty"`
	Subtotal string `json:"subtotal,omitempty"`
	Shipping string `json:"shipping,omitempty"`
	Tax      string `json:"tax,omitempty"`
	Total    string `json:"total,omitempty"`
}

// NormalizedEvent is one store event in the hub's terms.
// Its JSON form (snake_case) is a wire format: it is stored in inbound_events.normalized and
// carried in INGEST messages.
type NormalizedEvent struct {
	Kind            Kind      `json:"kind"`
	Platform        string    `json:"platform"`
	EventType       string    `json:"event_type"`                 // the platform's own event name (topic)
	ExternalID      string    `json:"external_id"`                // the platform's order id (immutable)
	ExternalRef     string    `json:"external_ref"`               // the human order number or name (Shopify "#1001"); ExternalID when none
	SourceUpdatedAt time.Time `json:"source_updated_at,omitzero"` // the order's updated_at at the source, zero when unknown
	SourceVersion   int64     `json:"source_version,omitempty"`   // a monotonic version when the platform has one, else 0
	Pickup          *Address  `json:"pickup,omitempty"`           // when the payload carries one (marketplaces: the restaurant)
	Dropoff         *Address  `json:"dropoff,omitempty"`          // the shipping or delivery address
	Items           []Item    `json:"items,omitempty"`
	Contact         *Contact  `json:"contact,omitempty"`
	Totals          *Totals   `json:"totals,omitempty"`
	Note            string    `json:"note,omitempty"`
	// NeedsRefetch: the payload is thin (an id, a status); a connector must fetch the order.
	NeedsRefetch bool `json:"needs_refetch,omitempty"`
}

// Error says why a payload could not be normalised. The caller keeps the raw event.
type Error struct {
	Platform string
	Reason   string
}

func (e *Error) Error() string {
	if e.Platform == "" {
		return "normalize: " + e.Reason
	}
	return "normalize " + e.Platform + ": " + e.Reason
}

// ErrUnsupportedPlatform matches (errors.Is) the *Error of Normalize for a platform that has
// no built-in normaliser; such a store needs a Mapping and NormalizeMapped.
var ErrUnsupportedPlatform = errors.New("no built-in normaliser for this platform")

// Is makes errors.Is(err, ErrUnsupportedPlatform) work.
func (e *Error) Is(target error) bool {
	return target == ErrUnsupportedPlatform && e.Reason == reasonUnsupported
}

const (
	reasonUnsupported = "no built-in normaliser for this platform (configure a field mapping)"
	// MaxIDLength bounds ExternalID and ExternalRef.
	MaxIDLength = 255
)

// platformFunc fills ev (Platform and EventType as given are already set) from the root of
// a payload that is a valid JSON object.
type platformFunc func(ev *NormalizedEvent, root gjson.Result) error

// platforms is the fixed table of built-in normalisers. It is never written after init.
var platforms = map[string]platformFunc{
	"shopify":       shopify,
	"shopline":      shopline,
	"woocommerce":   woocommerce,
	"bigcommerce":   bigcommerce,
	"square":        square,
	"etsy":          etsy,
	"ecwid":         ecwid,
	"wix":           wix,
	"adobecommerce": adobeCommerce,
	"squarespace":   squarespace,
	"tiendanube":    tiendanube,
	"ubereats":      uberEats,
	"deliveroo":     deliveroo,
	"doordash":      doorDash,
}

// aliases are other names stores use for a supported platform.
var aliases = map[string]string{
	"magento":   "adobecommerce",
	"nuvemshop": "tiendanube",
}

// Supported lists the platforms with a built-in normaliser, sorted.
func Supported() []string {
	out := make([]string, 0, len(platforms))
	for name := range platforms {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Normalize turns the body of one webhook of platform into one event. eventType is the
// platform's event name when it comes in a header (Shopify X-Shopify-Topic, WooCommerce
// X-WC-Webhook-Topic, SHOPLINE X-Shopline-Topic, ...); empty, it is read from the body where
// the platform puts it there. contentType is the request's Content-Type, may be empty.
//
// Errors are *Error. Normalize does not keep body: it may be a reused request buffer.
func Normalize(platform, eventType string, body []byte, contentType string) (NormalizedEvent, error) {
	ev := NormalizedEvent{Platform: platform, EventType: strings.TrimSpace(eventType)}
	name := strings.ToLower(strings.TrimSpace(platform))
	if canonical, ok := aliases[name]; ok {
		name = canonical
	}
	fn, ok := platforms[name]
	if !ok {
		return ev, &Error{Platform: platform, Reason: reasonUnsupported}
	}
	root, reason := parseBody(body, contentType, name == "wix")
	if reason != "" {
		return ev, &Error{Platform: platform, Reason: reason}
	}
	if err := fn(&ev, root); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Platform == "" {
			e.Platform = platform
		}
		return ev, err
	}
	return finish(ev), nil
}

// parseBody checks the body is one JSON object (or, for Wix, a JWT whose payload is one) and
// parses it. The returned Result refers to a copy of body.
func parseBody(body []byte, contentType string, jwtAllowed bool) (gjson.Result, string) {
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil &&
			(mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data") {
			return gjson.Result{}, "unsupported content type " + mt + " (JSON expected)"
		}
	}
	text := strings.TrimSpace(string(body))
	if text == "" {
		return gjson.Result{}, "empty body"
	}
	if jwtAllowed && text[0] != '{' && looksLikeJWT(text) {
		payload, reason := jwtPayload(text)
		if reason != "" {
			return gjson.Result{}, reason
		}
		text = payload
	}
	if !gjson.Valid(text) {
		return gjson.Result{}, "not JSON"
	}
	root := gjson.Parse(text)
	if !root.IsObject() {
		return gjson.Result{}, "body is not a JSON object"
	}
	return root, ""
}

// finish applies what holds for every event: an Ignored event carries no order fields, and
// ExternalRef defaults to ExternalID.
func finish(ev NormalizedEvent) NormalizedEvent {
	if ev.Kind == Ignored {
		return NormalizedEvent{Kind: Ignored, Platform: ev.Platform, EventType: ev.EventType}
	}
	if ev.ExternalRef == "" {
		ev.ExternalRef = ev.ExternalID
	}
	if ev.Contact != nil && *ev.Contact == (Contact{}) {
		ev.Contact = nil
	}
	if ev.Totals != nil && *ev.Totals == (Totals{}) {
		ev.Totals = nil
	}
	if ev.Dropoff != nil && ev.Dropoff.empty() {
		ev.Dropoff = nil
	}
	if ev.Pickup != nil && ev.Pickup.empty() {
		ev.Pickup = nil
	}
	if len(ev.Items) == 0 {
		ev.Items = nil
	}
	return ev
}

func (a *Address) empty() bool {
	return a.Point == nil && a.Name == "" && a.Company == "" && a.Line1 == "" && a.Line2 == "" &&
		a.City == "" && a.Region == "" && a.PostalCode == "" && a.Country == "" && a.Phone == ""
}

// errNoID is the error for a payload without the order id where the platform puts it.
func errNoID(path string) error { return &Error{Reason: "no order id at " + path} }

// errNoEventType is the error for an event whose type is neither given nor in the body.
func errNoEventType(where string) error {
	return &Error{Reason: "no event type (" + where + ")"}
}

// setID sets ExternalID from r, or returns the no-id error naming path.
func setID(ev *NormalizedEvent, r gjson.Result, path string) error {
	id := idOf(r)
	if id == "" {
		return errNoID(path)
	}
	if len(id) > MaxIDLength {
		return &Error{Reason: "order id at " + path + " is longer than 255 bytes"}
	}
	ev.ExternalID = id
	return nil
}

// setRef sets ExternalRef from the first of rs that is an id of acceptable length.
func setRef(ev *NormalizedEvent, rs ...gjson.Result) {
	for _, r := range rs {
		if ref := idOf(r); ref != "" && len(ref) <= MaxIDLength {
			ev.ExternalRef = ref
			return
		}
	}
}
