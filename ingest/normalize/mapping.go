package normalize

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// Mapping tells how to read the webhooks of a platform without a built-in normaliser. It
// is part of a store's settings JSON, for example:
//
//	{"kinds": {"order.placed": "order.created", "order.changed": "order.updated",
//	           "order.voided": "order.cancelled", "*": "ignored"},
//	 "event_type": "event", "external_id": "order.id", "external_ref": "order.number",
//	 "updated_at": "order.updated_at", "version": "order.revision",
//	 "dropoff": {"name": "order.ship_to.name", "line1": "order.ship_to.street",
//	             "lat": "order.ship_to.geo.lat", "lng": "order.ship_to.geo.lng"},
//	 "items": {"path": "order.lines", "sku": "sku", "name": "title", "quantity": "qty",
//	           "unit_price": "price"},
//	 "totals": {"currency": "order.currency", "total": "order.total"},
//	 "minor_units": false}
//
// Every field but kinds, minor_units and needs_refetch is a GJSON path
// (https://github.com/tidwall/gjson/blob/master/SYNTAX.md) from the root of the body; the
// item fields are paths inside one element of items.path. An empty path reads nothing.
// Call Validate when the settings are saved or loaded; a Mapping is read-only afterwards and
// safe for concurrent use.
type Mapping struct {
	// Kinds maps event types to kinds; the key "*" is the kind of any other type. A type
	// with no entry and no "*" is Ignored.
	Kinds map[string]Kind `json:"kinds"`
	// EventTypePath is read when the event type is not given by a header.
	EventTypePath string `json:"event_type"`
	ExternalID    string `json:"external_id"` // required
	ExternalRef   string `json:"external_ref,omitempty"`
	UpdatedAt     string `json:"updated_at,omitempty"`
	Version       string `json:"version,omitempty"`
	Note          string `json:"note,omitempty"`
	// Status and CancelledStatuses turn a created or updated event into a cancellation
	// when the order's status (compared without case) is one of them.
	Status            string   `json:"status,omitempty"`
	CancelledStatuses []string `json:"cancelled_statuses,omitempty"`

	Dropoff AddressMapping `json:"dropoff"`
	Pickup  AddressMapping `json:"pickup"`
	Items   ItemsMapping   `json:"items"`
	Contact ContactMapping `json:"contact"`
	Totals  TotalsMapping  `json:"totals"`

	// MinorUnits: amounts (totals and unit prices) are integers in the currency's minor
	// unit (cents) and are written out as decimals.
	MinorUnits bool `json:"minor_units,omitempty"`
	// NeedsRefetch: the payloads are thin; a connector fetches each order.
	NeedsRefetch bool `json:"needs_refetch,omitempty"`
}

// AddressMapping holds the paths of an address. Name, when empty or absent in a payload, is
// first_name and last_name joined. Lat and Lng may be numbers or numeric strings.
type AddressMapping struct {
	Name       string `json:"name,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Company    string `json:"company,omitempty"`
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Lat        string `json:"lat,omitempty"`
	Lng        string `json:"lng,omitempty"`
}

// ItemsMapping holds the path of the array of lines and, inside one line, the paths of
// its fields.
type ItemsMapping struct {
	Path      string `json:"path,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Name      string `json:"name,omitempty"`
	Quantity  string `json:"quantity,omitempty"`
	UnitPrice string `json:"unit_price,omitempty"`
}

// ContactMapping holds the paths of the recipient. Empty, the dropoff's name and phone are
// used.
type ContactMapping struct {
	Name      string `json:"name,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
}

// TotalsMapping holds the paths of the order's money.
type TotalsMapping struct {
	Currency string `json:"currency,omitempty"`
	Subtotal string `json:"subtotal,omitempty"`
	Shipping string `json:"shipping,omitempty"`
	Tax      string `json:"tax,omitempty"`
	Total    string `json:"total,omitempty"`
}

// MappingError is one problem of a Mapping. Field is the settings key ("dropoff.lat").
type MappingError struct {
	Field  string
	Reason string
}

func (e *MappingError) Error() string { return "mapping: " + e.Field + ": " + e.Reason }

// Validate checks that every path is a well-formed GJSON path, that external_id is set and
// that every kind is one of order.created, order.updated, order.cancelled, ignored. It
// returns all the problems joined (each a *MappingError), or nil.
func (m *Mapping) Validate() error {
	if m == nil {
		return &MappingError{Field: "mapping", Reason: "missing"}
	}
	var errs []error
	if m.ExternalID == "" {
		errs = append(errs, &MappingError{Field: "external_id", Reason: "required: the path of the order id"})
	}
	keys := make([]string, 0, len(m.Kinds))
	for k := range m.Kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, &MappingError{Field: "kinds", Reason: "empty event type"})
		}
		if kind := m.Kinds[k]; !kind.Valid() {
			errs = append(errs, &MappingError{Field: "kinds." + k, Reason: fmt.Sprintf(
				"kind %q: must be one of order.created, order.updated, order.cancelled, ignored", kind)})
		}
	}
	m.eachPath(func(field, path string) {
		if path == "" {
			return
		}
		if err := checkPath(path); err != nil {
			errs = append(errs, &MappingError{Field: field, Reason: fmt.Sprintf("path %q: %v", path, err)})
		}
	})
	return errors.Join(errs...)
}

// eachPath calls fn with the settings key and value of every path field, in a fixed order.
func (m *Mapping) eachPath(fn func(field, path string)) {
	fn("event_type", m.EventTypePath)
	fn("external_id", m.ExternalID)
	fn("external_ref", m.ExternalRef)
	fn("updated_at", m.UpdatedAt)
	fn("version", m.Version)
	fn("note", m.Note)
	fn("status", m.Status)
	for _, group := range []struct {
		name string
		v    any
	}{
		{"dropoff", m.Dropoff}, {"pickup", m.Pickup}, {"items", m.Items},
		{"contact", m.Contact}, {"totals", m.Totals},
	} {
		rv := reflect.ValueOf(group.v)
		rt := rv.Type()
		for i := 0; i < rt.NumField(); i++ {
			key, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			fn(group.name+"."+key, rv.Field(i).String())
		}
	}
}

// NormalizeMapped turns the body of one webhook into one event with a store's Mapping. It
// takes what Normalize takes but the content type (the body must be a JSON object), and
// returns the same *Error. m must have passed Validate.
func NormalizeMapped(platform, eventType string, body []byte, m *Mapping) (NormalizedEvent, error) {
	ev := NormalizedEvent{Platform: platform, EventType: strings.TrimSpace(eventType)}
	if m == nil || m.ExternalID == "" {
		return ev, &Error{Platform: platform, Reason: "no field mapping (external_id) for this store"}
	}
	root, reason := parseBody(body, "", false)
	if reason != "" {
		return ev, &Error{Platform: platform, Reason: reason}
	}
	if ev.EventType == "" && m.EventTypePath != "" {
		ev.EventType = str(root.Get(m.EventTypePath))
	}
	kind, ok := m.Kinds[ev.EventType]
	if !ok {
		kind, ok = m.Kinds["*"]
	}
	if !ok || !kind.Valid() {
		kind = Ignored
	}
	ev.Kind = kind
	if kind == Ignored {
		return finish(ev), nil
	}
	if err := setID(&ev, root.Get(m.ExternalID), m.ExternalID); err != nil {
		err.(*Error).Platform = platform
		return ev, err
	}
	if m.Status != "" && kind != OrderCancelled {
		status := str(root.Get(m.Status))
		for _, s := range m.CancelledStatuses {
			if status != "" && strings.EqualFold(status, s) {
				ev.Kind = OrderCancelled
				break
			}
		}
	}
	get := func(r gjson.Result, path string) gjson.Result {
		if path == "" {
			return gjson.Result{}
		}
		return r.Get(path)
	}
	setRef(&ev, get(root, m.ExternalRef))
	ev.SourceUpdatedAt = timeOf(get(root, m.UpdatedAt))
	ev.SourceVersion = versionOf(get(root, m.Version))
	ev.Note = str(get(root, m.Note))
	ev.NeedsRefetch = m.NeedsRefetch && ev.Kind != OrderCancelled

	currency := str(get(root, m.Totals.Currency))
	money := func(r gjson.Result) string {
		if m.MinorUnits {
			return minorOf(r, currency)
		}
		return decimalOf(r)
	}
	ev.Dropoff = m.Dropoff.read(root, get)
	ev.Pickup = m.Pickup.read(root, get)
	if m.Items.Path != "" {
		for _, li := range root.Get(m.Items.Path).Array() {
			ev.Items = append(ev.Items, Item{
				SKU:       str(get(li, m.Items.SKU)),
				Name:      str(get(li, m.Items.Name)),
				Quantity:  quantityOf(get(li, m.Items.Quantity)),
				UnitPrice: money(get(li, m.Items.UnitPrice)),
			})
		}
	}
	c := m.Contact
	contact := Contact{
		Name: firstStr(get(root, c.Name),
			textOf(joinName(str(get(root, c.FirstName)), str(get(root, c.LastName))))),
		Phone: str(get(root, c.Phone)),
		Email: str(get(root, c.Email)),
	}
	if ev.Dropoff != nil {
		if contact.Name == "" {
			contact.Name = ev.Dropoff.Name
		}
		if contact.Phone == "" {
			contact.Phone = ev.Dropoff.Phone
		}
	}
	ev.Contact = &contact
	ev.Totals = &Totals{
		Currency: currency,
		Subtotal: money(get(root, m.Totals.Subtotal)),
		Shipping: money(get(root, m.Totals.Shipping)),
		Tax:      money(get(root, m.Totals.Tax)),
		Total:    money(get(root, m.Totals.Total)),
	}
	return finish(ev), nil
}

// read reads an address with the mapping's paths, or returns nil when it maps nothing.
func (am AddressMapping) read(root gjson.Result, get func(gjson.Result, string) gjson.Result) *Address {
	if am == (AddressMapping{}) {
		return nil
	}
	return &Address{
		Name: firstStr(get(root, am.Name),
			textOf(joinName(str(get(root, am.FirstName)), str(get(root, am.LastName))))),
		Company:    str(get(root, am.Company)),
		Line1:      str(get(root, am.Line1)),
		Line2:      str(get(root, am.Line2)),
		City:       str(get(root, am.City)),
		Region:     str(get(root, am.Region)),
		PostalCode: str(get(root, am.PostalCode)),
		Country:    str(get(root, am.Country)),
		Phone:      str(get(root, am.Phone)),
		Point:      pointOf(get(root, am.Lat), get(root, am.Lng)),
	}
}
