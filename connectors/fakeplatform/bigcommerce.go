package fakeplatform

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// BigCommerceCredential is the X-Auth-Token the BigCommerce fake accepts.
const BigCommerceCredential = "bc4kq0x7m2n9p5r1s8t3v6w0y2z4a7c9e1g3i5k"

// BigCommerceInitialStatusID is the status_id of an order the fake sees for the first time:
// 11, Awaiting Fulfillment (paid, nothing shipped yet).
const BigCommerceInitialStatusID = 11

// BigCommerceResetMs is the X-Rate-Limit-Time-Reset-Ms the fake sends with a 429 whose
// Failure has no Retry-After (with one, the header says the same wait in milliseconds).
const BigCommerceResetMs = 1500

const bcStateKey = "bigcommerce.orders"

// bcStatuses are BigCommerce's order statuses by status_id (GET /v2/order_statuses).
var bcStatuses = [...]string{0: "Incomplete", 1: "Pending", 2: "Shipped", 3: "Partially Shipped", 4: "Refunded",
	5: "Cancelled", 6: "Declined", 7: "Awaiting Payment", 8: "Awaiting Pickup", 9: "Awaiting Shipment",
	10: "Completed", 11: "Awaiting Fulfillment", 12: "Manual Verification Required", 13: "Disputed",
	14: "Partially Refunded"}

// NewBigCommerce starts a fake BigCommerce store speaking the REST v2 orders API
// ([/stores/{hash}]/v2/orders/{id}, X-Auth-Token). Orders exist on first sight, numeric ids
// only, with status_id BigCommerceInitialStatusID. Effect: "status:<status_id>" (same key)
// when a PUT changes the status. Every answer carries the X-Rate-Limit-* headers; a 429 says
// when the window resets in X-Rate-Limit-Time-Reset-Ms. Errors are BigCommerce's list
// [{"status":N,"message":"..."}].
func NewBigCommerce(tb testing.TB) *Server {
	return New(tb, "bigcommerce", BigCommerceCredential, bcHandler{})
}

// BigCommerceStatusID returns the status_id of order on s (the initial one when the fake has
// not seen it).
func BigCommerceStatusID(s *Server, order string) int {
	id := BigCommerceInitialStatusID
	s.State(func(st map[string]any) {
		if v, ok := bcOrders(st)[order]; ok {
			id = v
		}
	})
	return id
}

// SetBigCommerceStatusID sets the status_id of order on s without recording an effect, as a
// merchant would in the control panel.
func SetBigCommerceStatusID(s *Server, order string, statusID int) {
	s.State(func(st map[string]any) { bcOrders(st)[order] = statusID })
}

type bcHandler struct{}

// bcRoute returns the order id of a /v2/orders/{id} path, with or without the
// /stores/{hash} prefix of api.bigcommerce.com; ok is false for any other path.
func bcRoute(path string) (id string, ok bool) {
	if rest, found := strings.CutPrefix(path, "/stores/"); found {
		_, path, _ = strings.Cut(rest, "/")
		path = "/" + path
	}
	id, found := strings.CutPrefix(path, "/v2/orders/")
	if !found || id == "" || strings.Trim(id, "0123456789") != "" {
		return "", false
	}
	return id, true
}

func (bcHandler) Order(r *http.Request) string {
	id, _ := bcRoute(r.URL.Path)
	return id
}

func (bcHandler) Authorized(r *http.Request, credential string) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Auth-Token")), []byte(credential)) == 1
}

func (bcHandler) Serve(s *Server, w http.ResponseWriter, r *http.Request) {
	bcRateHeaders(w, 149, 30000)
	id, ok := bcRoute(r.URL.Path)
	if !ok {
		bcError(w, http.StatusNotFound, "The requested resource was not found.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		var status int
		s.State(func(st map[string]any) { status = bcStatus(st, id) })
		WriteJSON(w, http.StatusOK, bcOrderJSON(id, status))
	case http.MethodPut:
		bcUpdate(s, w, r, id)
	default:
		bcError(w, http.StatusMethodNotAllowed, "The requested method is not allowed for this resource.")
	}
}

func bcUpdate(s *Server, w http.ResponseWriter, r *http.Request, id string) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		bcError(w, http.StatusUnsupportedMediaType, "The specified Content-Type is not supported.")
		return
	}
	var in struct {
		StatusID *int `json:"status_id"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(b, &in) != nil {
		bcError(w, http.StatusBadRequest, "The request body is not valid JSON.")
		return
	}
	if in.StatusID != nil && (*in.StatusID < 0 || *in.StatusID >= len(bcStatuses)) {
		bcError(w, http.StatusBadRequest, "The field 'status_id' is invalid.")
		return
	}
	var status int
	changed := false
	s.State(func(st map[string]any) {
		status = bcStatus(st, id)
		if in.StatusID != nil && *in.StatusID != status {
			status, changed = *in.StatusID, true
			bcOrders(st)[id] = status
		}
	})
	if changed {
		what := "status:" + strconv.Itoa(status)
		s.Apply(id, what, what)
	}
	WriteJSON(w, http.StatusOK, bcOrderJSON(id, status))
}

func (bcHandler) Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure) {
	status := f.Status
	if status == 0 {
		status = http.StatusTooManyRequests
	}
	if status == http.StatusTooManyRequests {
		reset := BigCommerceResetMs
		if secs, err := strconv.ParseFloat(f.RetryAfter, 64); err == nil && secs >= 0 {
			reset = int(secs * 1000)
		}
		bcRateHeaders(w, 0, reset)
	}
	if f.Body != "" {
		WriteJSON(w, status, f.Body)
		return
	}
	msg := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		msg = "The requested resource was not found."
	case http.StatusTooManyRequests:
		msg = "You have exceeded the rate limit. Please wait before making more requests."
	case http.StatusInternalServerError:
		msg = "Internal Server Error. Please try again later."
	case http.StatusServiceUnavailable:
		msg = "The service is temporarily unavailable. Please try again later."
	}
	bcError(w, status, msg)
}

func bcRateHeaders(w http.ResponseWriter, left, resetMs int) {
	h := w.Header()
	h.Set("X-Rate-Limit-Requests-Quota", "150")
	h.Set("X-Rate-Limit-Requests-Left", strconv.Itoa(left))
	h.Set("X-Rate-Limit-Time-Window-Ms", "30000")
	h.Set("X-Rate-Limit-Time-Reset-Ms", strconv.Itoa(resetMs))
}

func bcOrders(st map[string]any) map[string]int {
	m, _ := st[bcStateKey].(map[string]int)
	if m == nil {
		m = map[string]int{}
		st[bcStateKey] = m
	}
	return m
}

// bcStatus returns the status_id of order id, creating the order on first sight.
func bcStatus(st map[string]any, id string) int {
	m := bcOrders(st)
	v, ok := m[id]
	if !ok {
		v = BigCommerceInitialStatusID
		m[id] = v
	}
	return v
}

func bcOrderJSON(id string, status int) string {
	n, _ := strconv.Atoi(id)
	b, _ := json.Marshal(map[string]any{
		"id": n, "customer_id": 7, "date_created": "Fri, 20 Nov 2026 10:00:00 +0000",
		"status_id": status, "status": bcStatuses[status], "custom_status": bcStatuses[status],
		"subtotal_inc_tax": "42.5000", "total_inc_tax": "42.5000", "items_total": 2, "items_shipped": 0,
		"payment_status": "captured", "currency_code": "USD",
		"shipping_addresses": map[string]string{
			"url":      "https://api.bigcommerce.com/stores/abc123/v2/orders/" + id + "/shipping_addresses",
			"resource": "/orders/" + id + "/shipping_addresses",
		},
	})
	return string(b)
}

func bcError(w http.ResponseWriter, status int, message string) {
	b, _ := json.Marshal([]map[string]any{{"status": status, "message": message}})
	WriteJSON(w, status, string(b))
}
