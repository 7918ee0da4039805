package fakeplatform

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WooCommerceCredential is the "consumer_key:consumer_secret" pair the WooCommerce fake
// accepts over HTTP Basic.
const WooCommerceCredential = "ck_2f6b1c0e9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c:cs_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

// WooCommerceInitialStatus is the status of an order the fake sees for the first time: paid
// and awaiting fulfilment.
const WooCommerceInitialStatus = "processing"

const (
	wooPrefix   = "/wp-json/wc/v3/orders/"
	wooStateKey = "woocommerce.orders"
	wooMaxBody  = 1 << 20
)

// wooStatuses are the order statuses WooCommerce accepts on an update.
var wooStatuses = map[string]bool{"pending": true, "processing": true, "on-hold": true, "completed": true,
	"cancelled": true, "refunded": true, "failed": true, "trash": true, "checkout-draft": true}

// wooOrder is one order of the fake shop.
type wooOrder struct {
	id     int
	status string
	notes  []wooNote
}

type wooNote struct {
	ID           int    `json:"id"`
	Author       string `json:"author"`
	DateCreated  string `json:"date_created"`
	DateGMT      string `json:"date_created_gmt"`
	Note         string `json:"note"`
	CustomerNote bool   `json:"customer_note"`
	AddedByUser  bool   `json:"added_by_user"`
}

// NewWooCommerce starts a fake WooCommerce shop speaking REST API v3
// (/wp-json/wc/v3/orders/{id} and its /notes). Orders exist on first sight, numeric ids only,
// with status WooCommerceInitialStatus. Effects: "status:<new>" (key "status:<new>") when an
// update changes the status, and "note:<job id>" for every note created (key: the note's
// "[dispatchhub:<job id>]" marker, or its text), so a second identical note is a duplicate.
// Like WooCommerce, a status change also adds a system note "Order status changed from X to
// Y." (not an effect of its own). Host-level failures (429, 502, 503, 504) answer an HTML page
// as a proxy or the web host would; others answer WooCommerce's JSON error.
func NewWooCommerce(tb testing.TB) *Server {
	return New(tb, "woocommerce", WooCommerceCredential, wooHandler{})
}

// WooCommerceOrderStatus returns the status of order on s (the initial status when the fake
// has not seen it).
func WooCommerceOrderStatus(s *Server, order string) string {
	status := WooCommerceInitialStatus
	s.State(func(st map[string]any) {
		if o := wooOrders(st)[order]; o != nil {
			status = o.status
		}
	})
	return status
}

// SetWooCommerceOrderStatus sets the status of order on s without recording an effect, as a
// merchant would in the shop's admin.
func SetWooCommerceOrderStatus(s *Server, order, status string) {
	s.State(func(st map[string]any) { wooGet(st, order).status = status })
}

// WooCommerceNotes returns the text of every note of order on s, oldest first.
func WooCommerceNotes(s *Server, order string) []string {
	var out []string
	s.State(func(st map[string]any) {
		if o := wooOrders(st)[order]; o != nil {
			for _, n := range o.notes {
				out = append(out, n.Note)
			}
		}
	})
	return out
}

type wooHandler struct{}

// wooRoute splits an API path into the order id and the rest ("" or "notes"); ok is false
// for a path WooCommerce has no route for.
func wooRoute(path string) (id, sub string, ok bool) {
	rest, found := strings.CutPrefix(path, wooPrefix)
	if !found {
		return "", "", false
	}
	id, sub, _ = strings.Cut(rest, "/")
	if id == "" || strings.Trim(id, "0123456789") != "" || (sub != "" && sub != "notes") {
		return "", "", false
	}
	return id, sub, true
}

func (wooHandler) Order(r *http.Request) string {
	id, _, _ := wooRoute(r.URL.Path)
	return id
}

func (wooHandler) Authorized(r *http.Request, credential string) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	wantUser, wantPass, _ := strings.Cut(credential, ":")
	return subtle.ConstantTimeCompare([]byte(user), []byte(wantUser)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass)) == 1
}

func (wooHandler) Serve(s *Server, w http.ResponseWriter, r *http.Request) {
	id, sub, ok := wooRoute(r.URL.Path)
	if !ok {
		wooError(w, http.StatusNotFound, "rest_no_route", "No route was found matching the URL and request method.")
		return
	}
	switch {
	case sub == "" && r.Method == http.MethodGet:
		var body []byte
		s.State(func(st map[string]any) { body = wooOrderJSON(wooGet(st, id)) })
		writePHPJSON(w, http.StatusOK, body)
	case sub == "" && (r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodPatch):
		wooUpdate(s, w, r, id)
	case sub == "notes" && r.Method == http.MethodGet:
		wooListNotes(s, w, r, id)
	case sub == "notes" && r.Method == http.MethodPost:
		wooCreateNote(s, w, r, id)
	default:
		wooError(w, http.StatusNotFound, "rest_no_route", "No route was found matching the URL and request method.")
	}
}

func wooUpdate(s *Server, w http.ResponseWriter, r *http.Request, id string) {
	var in struct {
		Status *string `json:"status"`
	}
	if !wooDecode(w, r, &in) {
		return
	}
	if in.Status != nil && !wooStatuses[*in.Status] {
		wooError(w, http.StatusBadRequest, "rest_invalid_param", "Invalid parameter(s): status")
		return
	}
	var (
		body    []byte
		changed bool
	)
	s.State(func(st map[string]any) {
		o := wooGet(st, id)
		if in.Status != nil && *in.Status != o.status {
			o.addNote("Order status changed from "+wooLabel(o.status)+" to "+wooLabel(*in.Status)+".", "system", false)
			o.status, changed = *in.Status, true
		}
		body = wooOrderJSON(o)
	})
	if changed {
		s.Apply(id, "status:"+*in.Status, "status:"+*in.Status)
	}
	writePHPJSON(w, http.StatusOK, body)
}

func wooListNotes(s *Server, w http.ResponseWriter, r *http.Request, id string) {
	typ := r.URL.Query().Get("type")
	switch typ {
	case "", "any", "customer", "internal":
	default:
		wooError(w, http.StatusBadRequest, "rest_invalid_param", "Invalid parameter(s): type")
		return
	}
	var body []byte
	s.State(func(st map[string]any) {
		o := wooGet(st, id)
		list := make([]wooNote, 0, len(o.notes))
		for i := len(o.notes) - 1; i >= 0; i-- { // newest first, as WooCommerce lists them
			n := o.notes[i]
			if (typ == "customer" && !n.CustomerNote) || (typ == "internal" && n.CustomerNote) {
				continue
			}
			list = append(list, n)
		}
		body, _ = json.Marshal(list)
	})
	writePHPJSON(w, http.StatusOK, body)
}

func wooCreateNote(s *Server, w http.ResponseWriter, r *http.Request, id string) {
	var in struct {
		Note         string `json:"note"`
		CustomerNote bool   `json:"customer_note"`
	}
	if !wooDecode(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Note) == "" {
		wooError(w, http.StatusBadRequest, "woocommerce_rest_missing_note", "Cannot create order note, please provide a note.")
		return
	}
	var body []byte
	s.State(func(st map[string]any) {
		n := wooGet(st, id).addNote(in.Note, "woocommerce", in.CustomerNote)
		body, _ = json.Marshal(n)
	})
	what, key := "note", in.Note
	if i := strings.Index(in.Note, "[dispatchhub:"); i >= 0 {
		if j := strings.IndexByte(in.Note[i:], ']'); j > 0 {
			key = in.Note[i : i+j+1]
			what = "note:" + in.Note[i+len("[dispatchhub:"):i+j]
		}
	}
	s.Apply(id, what, key)
	writePHPJSON(w, http.StatusCreated, body)
}

func (wooHandler) Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure) {
	status := f.Status
	if status == 0 {
		status = http.StatusTooManyRequests
	}
	if f.Body != "" {
		WriteJSON(w, status, f.Body)
		return
	}
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// The web host or a proxy in front of WordPress answers, not WooCommerce.
		text := strconv.Itoa(status) + " " + http.StatusText(status)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "<html>\r\n<head><title>"+text+"</title></head>\r\n<body>\r\n<center><h1>"+text+
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
	case http.StatusNotFound:
		wooError(w, status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
	case http.StatusUnauthorized:
		wooError(w, status, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
	case http.StatusForbidden:
		wooError(w, status, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
	default:
		if status < 500 {
			wooError(w, status, "rest_invalid_param", "Invalid parameter(s): status")
			return
		}
		wooError(w, status, "internal_server_error", "<p>There has been a critical error on this website.</p>")
	}
}

func wooOrders(st map[string]any) map[string]*wooOrder {
	m, _ := st[wooStateKey].(map[string]*wooOrder)
	if m == nil {
		m = map[string]*wooOrder{}
		st[wooStateKey] = m
	}
	return m
}

// wooGet returns order id, creating it on first sight. Called under the server's lock.
func wooGet(st map[string]any, id string) *wooOrder {
	m := wooOrders(st)
	o := m[id]
	if o == nil {
		n, _ := strconv.Atoi(id)
		o = &wooOrder{id: n, status: WooCommerceInitialStatus}
		m[id] = o
	}
	return o
}

func (o *wooOrder) addNote(text, author string, customer bool) wooNote {
	now := time.Now().UTC().Format("2006-01-02T15:04:05")
	n := wooNote{ID: o.id*100 + len(o.notes) + 1, Author: author, DateCreated: now, DateGMT: now,
		Note: text, CustomerNote: customer, AddedByUser: author != "system"}
	o.notes = append(o.notes, n)
	return n
}

// wooOrderJSON is the order as GET /orders/{id} shows it (the fields a connector may read).
func wooOrderJSON(o *wooOrder) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": o.id, "parent_id": 0, "status": o.status, "currency": "USD", "version": "9.4.2",
		"prices_include_tax": false, "date_created": "2026-11-20T10:00:00", "total": "42.50",
		"customer_id": 7, "order_key": "wc_order_" + strconv.Itoa(o.id),
		"billing":    map[string]any{"first_name": "Ada", "last_name": "Lovelace", "city": "London"},
		"shipping":   map[string]any{"first_name": "Ada", "last_name": "Lovelace", "city": "London"},
		"line_items": []map[string]any{{"id": 1, "name": "Tea / Earl Grey", "quantity": 2, "total": "42.50"}},
		"_links":     map[string]any{"self": []map[string]string{{"href": "https://shop.example/wp-json/wc/v3/orders/" + strconv.Itoa(o.id)}}},
	})
	return b
}

func wooLabel(status string) string {
	switch status {
	case "on-hold":
		return "On hold"
	case "checkout-draft":
		return "Draft"
	case "":
		return ""
	}
	return strings.ToUpper(status[:1]) + status[1:]
}

// wooDecode reads a JSON request body into v, answering 400 as WordPress does when it cannot.
func wooDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		wooError(w, http.StatusBadRequest, "rest_invalid_json", "Invalid JSON body passed.")
		return false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, wooMaxBody))
	if err != nil || json.Unmarshal(b, v) != nil {
		wooError(w, http.StatusBadRequest, "rest_invalid_json", "Invalid JSON body passed.")
		return false
	}
	return true
}

func wooError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(map[string]any{"code": code, "message": message, "data": map[string]int{"status": status}})
	writePHPJSON(w, status, b)
}

// writePHPJSON answers body the way PHP's json_encode writes it: every "/" escaped as "\/"
// (only strings hold a "/" in JSON, so the body stays valid), which a reader must undo.
func writePHPJSON(w http.ResponseWriter, status int, body []byte) {
	WriteJSON(w, status, strings.ReplaceAll(string(body), "/", `\/`))
}
