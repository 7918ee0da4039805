package fakeplatform

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// SquarespaceAPIKey is the API key the Squarespace fake accepts as a bearer token.
const SquarespaceAPIKey = "sqsp-fake-3b9e7c1d5a2f4e6b8c0d1e2f3a4b5c6d"

const (
	squarespaceStateKey = "squarespace.store"
	squarespaceMaxBody  = 1 << 20
)

var squarespaceRoute = regexp.MustCompile(`^/1\.0/commerce/orders/([^/]+)(/fulfillments)?$`)

// NewSquarespace starts a fake Squarespace store speaking the Commerce Orders API 1.0:
// POST /1.0/commerce/orders/{id}/fulfillments (Authorization: Bearer, a User-Agent, JSON
// body {"shouldSendNotification", "shipments":[{shipDate, carrierName, service,
// trackingNumber, trackingUrl}]}, answered 204) and GET /1.0/commerce/orders/{id}. Errors are
// Squarespace's error object {"type","subtype","message","details","contextId"}.
//
// Orders exist on first sight, PENDING. Fulfilling one makes it FULFILLED and records the effect
// "fulfillment:create" (key "fulfilled", so fulfilling an order twice is a duplicate).
// Idempotency-Key is honoured: a key seen before answers the first answer again without a new
// effect (the real API keeps keys 24 hours), and a key reused for another order answers 400.
// Fulfilling an order that is FULFILLED already, without its key, answers 409. (The real API
// accepts further shipments on a FULFILLED order; the fake answers 409 instead, the case the
// squarespace connector must treat as done.)
func NewSquarespace(tb testing.TB) *Server {
	return New(tb, "squarespace", SquarespaceAPIKey, squarespaceHandler{})
}

// SquarespaceShipment is a shipment recorded on an order of the Squarespace fake.
type SquarespaceShipment struct {
	ShipDate       string `json:"shipDate"`
	CarrierName    string `json:"carrierName"`
	Service        string `json:"service"`
	TrackingNumber string `json:"trackingNumber"`
	TrackingURL    string `json:"trackingUrl,omitempty"`
}

// SquarespaceOrder is an order of the Squarespace fake, as tests inspect it.
type SquarespaceOrder struct {
	ID                string
	FulfillmentStatus string // PENDING or FULFILLED
	Shipments         []SquarespaceShipment
	Notified          bool // the customer was sent the fulfilment notification
}

// SquarespaceOrderState returns order on s as the fake holds it (PENDING when it has not seen
// it).
func SquarespaceOrderState(s *Server, order string) SquarespaceOrder {
	out := SquarespaceOrder{ID: order, FulfillmentStatus: "PENDING"}
	s.State(func(st map[string]any) {
		if o := squarespaceState(st).orders[order]; o != nil {
			out = *o
			out.Shipments = append([]SquarespaceShipment(nil), o.Shipments...)
		}
	})
	return out
}

type squarespaceHandler struct{}

type squarespaceStore struct {
	orders map[string]*SquarespaceOrder
	keys   map[string]squarespaceReplay // Idempotency-Key → the first answer
}

type squarespaceReplay struct {
	path   string
	status int
	body   string
}

func squarespaceState(st map[string]any) *squarespaceStore {
	if v, ok := st[squarespaceStateKey].(*squarespaceStore); ok {
		return v
	}
	v := &squarespaceStore{orders: map[string]*SquarespaceOrder{}, keys: map[string]squarespaceReplay{}}
	st[squarespaceStateKey] = v
	return v
}

func (st *squarespaceStore) order(id string) *SquarespaceOrder {
	if o := st.orders[id]; o != nil {
		return o
	}
	o := &SquarespaceOrder{ID: id, FulfillmentStatus: "PENDING"}
	st.orders[id] = o
	return o
}

func (squarespaceHandler) Order(r *http.Request) string {
	m := squarespaceRoute.FindStringSubmatch(r.URL.EscapedPath())
	if m == nil {
		return ""
	}
	id, err := url.PathUnescape(m[1])
	if err != nil {
		return ""
	}
	return id
}

func (squarespaceHandler) Authorized(r *http.Request, credential string) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+credential)) == 1
}

// squarespaceErrorTypes are the error object's type per HTTP status.
var squarespaceErrorTypes = map[int]string{
	http.StatusBadRequest: "INVALID_REQUEST_ERROR", http.StatusUnauthorized: "AUTHORIZATION_ERROR",
	http.StatusForbidden: "FORBIDDEN", http.StatusNotFound: "NOT_FOUND",
	http.StatusMethodNotAllowed: "METHOD_NOT_ALLOWED", http.StatusConflict: "CONFLICT",
	http.StatusUnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE", http.StatusUnprocessableEntity: "INVALID_REQUEST_ERROR",
	http.StatusTooManyRequests: "RATE_LIMIT_EXCEEDED", http.StatusInternalServerError: "INTERNAL_ERROR",
	http.StatusBadGateway: "SERVICE_UNAVAILABLE", http.StatusServiceUnavailable: "SERVICE_UNAVAILABLE",
	http.StatusGatewayTimeout: "SERVICE_UNAVAILABLE",
}

// squarespaceError is the body of an error answer.
func squarespaceError(status int, subtype, message string) string {
	typ := squarespaceErrorTypes[status]
	if typ == "" {
		typ = "INVALID_REQUEST_ERROR"
	}
	st := "null"
	if subtype != "" {
		st = strconv.Quote(subtype)
	}
	return fmt.Sprintf(`{"type":%q,"subtype":%s,"message":%q,"details":null,"contextId":"FAKE%06d"}`,
		typ, st, message, time.Now().Nanosecond()%1_000_000)
}

func (squarespaceHandler) Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure) {
	body := f.Body
	if body == "" {
		message := http.StatusText(f.Status)
		if f.Status == http.StatusTooManyRequests {
			message = "Rate limit exceeded; retry after the cooldown period."
		}
		body = squarespaceError(f.Status, "", message)
	}
	WriteJSON(w, f.Status, body)
}

func (squarespaceHandler) Serve(s *Server, w http.ResponseWriter, r *http.Request) {
	m := squarespaceRoute.FindStringSubmatch(r.URL.EscapedPath())
	order, err := url.PathUnescape(valueAt(m, 1))
	if m == nil || err != nil {
		WriteJSON(w, http.StatusNotFound, squarespaceError(http.StatusNotFound, "", "Resource not found."))
		return
	}
	if r.Header.Get("User-Agent") == "" {
		WriteJSON(w, http.StatusBadRequest, squarespaceError(http.StatusBadRequest, "MISSING_ARGUMENT", "A User-Agent header is required."))
		return
	}
	switch {
	case m[2] == "" && r.Method == http.MethodGet:
		o := SquarespaceOrderState(s, order)
		ships := o.Shipments
		if ships == nil {
			ships = []SquarespaceShipment{}
		}
		b, _ := json.Marshal(map[string]any{"id": o.ID, "fulfillmentStatus": o.FulfillmentStatus, "fulfillments": ships})
		WriteJSON(w, http.StatusOK, string(b))
	case m[2] != "" && r.Method == http.MethodPost:
		squarespaceFulfil(s, w, r, order)
	default:
		WriteJSON(w, http.StatusMethodNotAllowed, squarespaceError(http.StatusMethodNotAllowed, "", "Method not allowed."))
	}
}

func valueAt(m []string, i int) string {
	if i < len(m) {
		return m[i]
	}
	return ""
}

type squarespaceFulfilment struct {
	ShouldSendNotification bool                  `json:"shouldSendNotification"`
	Shipments              []SquarespaceShipment `json:"shipments"`
}

func squarespaceFulfil(s *Server, w http.ResponseWriter, r *http.Request, order string) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		WriteJSON(w, http.StatusUnsupportedMediaType, squarespaceError(http.StatusUnsupportedMediaType, "", "Content-Type must be application/json."))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, squarespaceMaxBody))
	var in squarespaceFulfilment
	if err != nil || json.Unmarshal(raw, &in) != nil {
		WriteJSON(w, http.StatusBadRequest, squarespaceError(http.StatusBadRequest, "INVALID_BODY", "The request body is not valid JSON."))
		return
	}
	if msg := squarespaceCheckShipments(in.Shipments); msg != "" {
		WriteJSON(w, http.StatusBadRequest, squarespaceError(http.StatusBadRequest, "INVALID_ARGUMENT", msg))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	var answer squarespaceReplay
	applied := false
	s.State(func(st map[string]any) {
		store := squarespaceState(st)
		if prev, ok := store.keys[key]; ok && key != "" {
			if prev.path != r.URL.Path {
				answer = squarespaceReplay{status: http.StatusBadRequest,
					body: squarespaceError(http.StatusBadRequest, "INVALID_ARGUMENT", "Idempotency-Key was used for a different request.")}
				return
			}
			answer = prev
			return
		}
		o := store.order(order)
		if o.FulfillmentStatus == "FULFILLED" {
			answer = squarespaceReplay{path: r.URL.Path, status: http.StatusConflict,
				body: squarespaceError(http.StatusConflict, "ORDER_ALREADY_FULFILLED", "Order is already fulfilled.")}
		} else {
			o.FulfillmentStatus = "FULFILLED"
			o.Shipments = append(o.Shipments, in.Shipments...)
			o.Notified = in.ShouldSendNotification
			answer = squarespaceReplay{path: r.URL.Path, status: http.StatusNoContent}
			applied = true
		}
		if key != "" {
			store.keys[key] = answer
		}
	})
	if applied {
		s.Apply(order, "fulfillment:create", "fulfilled")
	}
	if answer.status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	WriteJSON(w, answer.status, answer.body)
}

// squarespaceCheckShipments returns what is wrong with shipments, or "".
func squarespaceCheckShipments(shipments []SquarespaceShipment) string {
	for i, sh := range shipments {
		switch {
		case sh.ShipDate == "":
			return fmt.Sprintf("shipments[%d].shipDate is required.", i)
		case sh.CarrierName == "":
			return fmt.Sprintf("shipments[%d].carrierName is required.", i)
		case sh.Service == "":
			return fmt.Sprintf("shipments[%d].service is required.", i)
		case sh.TrackingNumber == "":
			return fmt.Sprintf("shipments[%d].trackingNumber is required.", i)
		}
		if _, err := time.Parse(time.RFC3339, sh.ShipDate); err != nil {
			return fmt.Sprintf("shipments[%d].shipDate must be an ISO 8601 date and time.", i)
		}
		if sh.TrackingURL != "" {
			if u, err := url.ParseRequestURI(sh.TrackingURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Sprintf("shipments[%d].trackingUrl must be a valid URL.", i)
			}
		}
	}
	return ""
}
