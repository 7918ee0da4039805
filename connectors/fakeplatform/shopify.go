package fakeplatform

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ShopifyAccessToken is the Admin API access token the Shopify fake accepts in
// X-Shopify-Access-Token.
const ShopifyAccessToken = "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"

const (
	shopifyStateKey = "shopify.store"
	shopifyMaxBody  = 1 << 20
	// The cost bucket the fake reports, as on a standard plan.
	shopifyBucket      = 1000.0
	shopifyRestoreRate = 50.0
	// What a throttled answer says by default: a query of 252 points against 2 available.
	shopifyThrottledCost      = 252
	shopifyThrottledAvailable = 2
)

var (
	shopifyPath      = regexp.MustCompile(`^/admin/api/(?:\d{4}-\d{2}|unstable)/graphql\.json$`)
	shopifyRootField = regexp.MustCompile(`^\s*(?:(?:query|mutation)\b[^{]*)?\{\s*(?:\w+\s*:\s*)?(\w+)`)
	shopifyGID       = regexp.MustCompile(`gid://shopify/(Order|Fulfillment|FulfillmentOrder)/([A-Za-z0-9_-]+)`)
)

// shopifyEventStatuses is the FulfillmentEventStatus enum.
var shopifyEventStatuses = []string{"ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "CONFIRMED", "DELAYED",
	"DELIVERED", "FAILURE", "IN_TRANSIT", "LABEL_PRINTED", "LABEL_PURCHASED", "OUT_FOR_DELIVERY",
	"PICKED_UP", "READY_FOR_PICKUP"}

// NewShopify starts a fake Shopify shop speaking the GraphQL Admin API
// (POST /admin/api/{version}/graphql.json, X-Shopify-Access-Token) for the subset the
// connector uses: the order query (fulfillments with trackingInfo and events, fulfillment
// orders) and the mutations fulfillmentCreate, fulfillmentTrackingInfoUpdate,
// fulfillmentEventCreate and fulfillmentCancel. Operations are recognised by the root field of
// the query text; arguments are read from its variables only.
//
// Orders exist on first sight with one OPEN fulfillment order; they are keyed by the numeric
// part of their gid ("gid://shopify/Order/1001" is order "1001"). Effects:
// "fulfillment:create" (key: the tracking number, so a second fulfillment with the same number
// is a duplicate), "tracking:update" (key: the new number; only when it changes),
// "event:<STATUS>" (key "event:<STATUS>") and "fulfillment:cancel" (key "cancel"). As on
// Shopify, creating a fulfillment closes its fulfillment orders and cancelling it reopens them;
// a mutation the shop refuses answers HTTP 200 with userErrors.
func NewShopify(tb testing.TB) *Server {
	h := &shopifyHandler{}
	s := New(tb, "shopify", ShopifyAccessToken, h)
	h.srv.Store(s)
	return s
}

// ShopifyFulfillment is a fulfillment of the Shopify fake, as tests inspect it.
type ShopifyFulfillment struct {
	ID       string
	Status   string   // SUCCESS or CANCELLED
	Tracking []string // tracking numbers
	Events   []string // event statuses, oldest first
}

// ShopifyFulfillments returns the fulfillments of order on s, oldest first.
func ShopifyFulfillments(s *Server, order string) []ShopifyFulfillment {
	var out []ShopifyFulfillment
	s.State(func(st map[string]any) {
		o := shopifyState(st).orders[order]
		if o == nil {
			return
		}
		for _, f := range o.fulfillments {
			sf := ShopifyFulfillment{ID: f.id, Status: f.status, Events: slices.Clone(f.events)}
			for _, ti := range f.tracking {
				sf.Tracking = append(sf.Tracking, ti.Number)
			}
			out = append(out, sf)
		}
	})
	return out
}

type shopifyHandler struct {
	srv atomic.Pointer[Server] // for Order, which resolves fulfillment ids through the state
}

type shopifyStore struct {
	orders map[string]*shopifyOrder
	owner  map[string]string // fulfillment and fulfillment order gid → order id
	seq    int
}

type shopifyOrder struct {
	id                string
	fulfillmentOrders []*shopifyFulfillmentOrder
	fulfillments      []*shopifyFulfillmentRec
}

type shopifyFulfillmentOrder struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type shopifyFulfillmentRec struct {
	id       string
	status   string
	tracking []shopifyTracking
	events   []string
	orders   []*shopifyFulfillmentOrder // the fulfillment orders it fulfils
}

type shopifyTracking struct {
	Company string `json:"company"`
	Number  string `json:"number"`
	URL     string `json:"url"`
}

type shopifyUserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

func shopifyState(st map[string]any) *shopifyStore {
	if v, ok := st[shopifyStateKey].(*shopifyStore); ok {
		return v
	}
	v := &shopifyStore{orders: map[string]*shopifyOrder{}, owner: map[string]string{}}
	st[shopifyStateKey] = v
	return v
}

func (st *shopifyStore) gid(kind string) string {
	st.seq++
	return "gid://shopify/" + kind + "/" + strconv.Itoa(5_000_000+st.seq)
}

func (st *shopifyStore) order(id string) *shopifyOrder {
	if o := st.orders[id]; o != nil {
		return o
	}
	fo := &shopifyFulfillmentOrder{ID: st.gid("FulfillmentOrder"), Status: "OPEN"}
	st.owner[fo.ID] = id
	o := &shopifyOrder{id: id, fulfillmentOrders: []*shopifyFulfillmentOrder{fo}}
	st.orders[id] = o
	return o
}

func (st *shopifyStore) fulfillment(gid string) (*shopifyOrder, *shopifyFulfillmentRec) {
	o := st.orders[st.owner[gid]]
	if o == nil {
		return nil, nil
	}
	for _, f := range o.fulfillments {
		if f.id == gid {
			return o, f
		}
	}
	return nil, nil
}

func (h *shopifyHandler) Order(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, shopifyMaxBody))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	m := shopifyGID.FindSubmatch(body)
	if m == nil {
		return ""
	}
	if string(m[1]) == "Order" {
		return string(m[2])
	}
	var order string
	if s := h.srv.Load(); s != nil {
		s.State(func(st map[string]any) { order = shopifyState(st).owner[string(m[0])] })
	}
	return order
}

func (h *shopifyHandler) Authorized(r *http.Request, credential string) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Shopify-Access-Token")), []byte(credential)) == 1
}

func (h *shopifyHandler) Fail(s *Server, w http.ResponseWriter, r *http.Request, f Failure) {
	if f.Throttled {
		body := f.Body
		if body == "" {
			body = fmt.Sprintf(`{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],`+
				`"extensions":{"cost":{"requestedQueryCost":%d,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":%.1f,"currentlyAvailable":%d,"restoreRate":%.1f}}}}`,
				shopifyThrottledCost, shopifyBucket, shopifyThrottledAvailable, shopifyRestoreRate)
		}
		WriteJSON(w, http.StatusOK, body)
		return
	}
	if f.Body != "" {
		WriteJSON(w, f.Status, f.Body)
		return
	}
	switch f.Status {
	case http.StatusBadRequest:
		WriteJSON(w, f.Status, `{"errors":{"query":"Required parameter missing or invalid"}}`)
	case http.StatusPaymentRequired:
		WriteJSON(w, f.Status, `{"errors":"Unavailable Shop"}`)
	case http.StatusForbidden:
		WriteJSON(w, f.Status, `{"errors":"[API] This action requires merchant approval for write_merchant_managed_fulfillment_orders scope."}`)
	case http.StatusTooManyRequests:
		WriteJSON(w, f.Status, `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`)
	case http.StatusInternalServerError:
		WriteJSON(w, f.Status, `{"errors":[{"message":"Internal error. Looks like something went wrong on our end.\nRequest ID: 0b5d4c3a-fake","extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"0b5d4c3a-fake"}}]}`)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>%d %s</title></head><body><h1>%s</h1><p>There was a problem loading this website. Please try again.</p></body></html>",
			f.Status, http.StatusText(f.Status), http.StatusText(f.Status))
	default:
		WriteJSON(w, f.Status, `{"errors":`+strconv.Quote(http.StatusText(f.Status))+`}`)
	}
}

// shopifyRequest is a GraphQL request body.
type shopifyRequest struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
}

// shopifyAnswer is what one operation answers: data, or top-level errors, and the effects it
// had.
type shopifyAnswer struct {
	data    any
	errors  []map[string]any
	effects []Effect
}

func (h *shopifyHandler) Serve(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !shopifyPath.MatchString(r.URL.Path) {
		WriteJSON(w, http.StatusNotFound, `{"errors":"Not Found"}`)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, shopifyMaxBody))
	var req shopifyRequest
	if err != nil || json.Unmarshal(body, &req) != nil || strings.TrimSpace(req.Query) == "" {
		WriteJSON(w, http.StatusBadRequest, `{"errors":{"query":"Required parameter missing or invalid"}}`)
		return
	}
	m := shopifyRootField.FindStringSubmatch(req.Query)
	if m == nil {
		shopifyWrite(w, shopifyAnswer{errors: []map[string]any{{"message": "syntax error, unexpected end of file",
			"extensions": map[string]any{"code": "parseError"}}}})
		return
	}
	var a shopifyAnswer
	s.State(func(st map[string]any) { a = shopifyServe(shopifyState(st), m[1], req.Variables) })
	for _, e := range a.effects {
		s.Apply(e.Order, e.What, e.Key)
	}
	shopifyWrite(w, a)
}

func shopifyWrite(w http.ResponseWriter, a shopifyAnswer) {
	out := map[string]any{"extensions": map[string]any{"cost": map[string]any{
		"requestedQueryCost": 10, "actualQueryCost": 10,
		"throttleStatus": map[string]any{"maximumAvailable": shopifyBucket,
			"currentlyAvailable": shopifyBucket - 10, "restoreRate": shopifyRestoreRate},
	}}}
	if a.errors != nil {
		out["errors"] = a.errors
	} else {
		out["data"] = a.data
	}
	b, err := json.Marshal(out)
	if err != nil {
		WriteJSON(w, http.StatusInternalServerError, `{"errors":"Internal Server Error"}`)
		return
	}
	WriteJSON(w, http.StatusOK, string(b))
}

// shopifyServe runs one operation on the shop, under the server's lock.
func shopifyServe(st *shopifyStore, field string, vars json.RawMessage) shopifyAnswer {
	switch field {
	case "order":
		return shopifyOrderQuery(st, vars)
	case "fulfillmentCreate":
		return shopifyFulfillmentCreate(st, vars)
	case "fulfillmentTrackingInfoUpdate":
		return shopifyTrackingUpdate(st, vars)
	case "fulfillmentEventCreate":
		return shopifyEventCreate(st, vars)
	case "fulfillmentCancel":
		return shopifyCancel(st, vars)
	}
	return shopifyErrors(fmt.Sprintf("Field '%s' doesn't exist on type 'QueryRoot'", field), "undefinedField")
}

func shopifyErrors(message, code string) shopifyAnswer {
	return shopifyAnswer{errors: []map[string]any{{"message": message, "extensions": map[string]any{"code": code}}}}
}

func shopifyInvalidVariable(name string) shopifyAnswer {
	return shopifyErrors(fmt.Sprintf("Variable $%s of type ID! was provided invalid value", name), "INVALID_VARIABLE")
}

// shopifyPayload is a mutation's answer: its object under name, and userErrors.
func shopifyPayload(root, name string, obj any, errs ...shopifyUserError) shopifyAnswer {
	if errs == nil {
		errs = []shopifyUserError{}
	}
	return shopifyAnswer{data: map[string]any{root: map[string]any{name: obj, "userErrors": errs}}}
}

func shopifyOrderQuery(st *shopifyStore, vars json.RawMessage) shopifyAnswer {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(vars, &v)
	m := shopifyGID.FindStringSubmatch(v.ID)
	if m == nil || m[0] != v.ID || m[1] != "Order" {
		return shopifyErrors(fmt.Sprintf("Invalid global id '%s'", v.ID), "argumentLiteralsIncompatible")
	}
	o := st.order(m[2])
	type event struct {
		Status string `json:"status"`
	}
	type fulfillment struct {
		ID           string            `json:"id"`
		Status       string            `json:"status"`
		TrackingInfo []shopifyTracking `json:"trackingInfo"`
		Events       struct {
			Nodes []event `json:"nodes"`
		} `json:"events"`
	}
	fs := make([]fulfillment, 0, len(o.fulfillments))
	for _, f := range o.fulfillments {
		ff := fulfillment{ID: f.id, Status: f.status, TrackingInfo: slices.Clone(f.tracking)}
		if ff.TrackingInfo == nil {
			ff.TrackingInfo = []shopifyTracking{}
		}
		ff.Events.Nodes = make([]event, 0, len(f.events))
		for _, e := range f.events {
			ff.Events.Nodes = append(ff.Events.Nodes, event{Status: e})
		}
		fs = append(fs, ff)
	}
	fos := make([]shopifyFulfillmentOrder, 0, len(o.fulfillmentOrders))
	for _, fo := range o.fulfillmentOrders {
		fos = append(fos, *fo)
	}
	return shopifyAnswer{data: map[string]any{"order": map[string]any{
		"id": v.ID, "fulfillments": fs, "fulfillmentOrders": map[string]any{"nodes": fos},
	}}}
}

func shopifyFulfillmentCreate(st *shopifyStore, vars json.RawMessage) shopifyAnswer {
	var v struct {
		Fulfillment *struct {
			LineItemsByFulfillmentOrder []struct {
				FulfillmentOrderID string `json:"fulfillmentOrderId"`
			} `json:"lineItemsByFulfillmentOrder"`
			NotifyCustomer bool             `json:"notifyCustomer"`
			TrackingInfo   *shopifyTracking `json:"trackingInfo"`
		} `json:"fulfillment"`
	}
	if json.Unmarshal(vars, &v) != nil || v.Fulfillment == nil {
		return shopifyErrors("Variable $fulfillment of type FulfillmentInput! was provided invalid value", "INVALID_VARIABLE")
	}
	const root = "fulfillmentCreate"
	in := v.Fulfillment
	field := []string{"fulfillment", "lineItemsByFulfillmentOrder"}
	if len(in.LineItemsByFulfillmentOrder) == 0 {
		return shopifyPayload(root, "fulfillment", nil, shopifyUserError{field, "Line items by fulfillment order can't be blank."})
	}
	var o *shopifyOrder
	var fos []*shopifyFulfillmentOrder
	for _, li := range in.LineItemsByFulfillmentOrder {
		owner := st.orders[st.owner[li.FulfillmentOrderID]]
		if owner == nil || (o != nil && owner != o) {
			return shopifyPayload(root, "fulfillment", nil, shopifyUserError{field, "Fulfillment order does not exist."})
		}
		o = owner
		i := slices.IndexFunc(o.fulfillmentOrders, func(fo *shopifyFulfillmentOrder) bool { return fo.ID == li.FulfillmentOrderID })
		fo := o.fulfillmentOrders[i]
		if fo.Status != "OPEN" && fo.Status != "IN_PROGRESS" {
			return shopifyPayload(root, "fulfillment", nil, shopifyUserError{field,
				fmt.Sprintf("Fulfillment order %s has an unfulfillable status= %s.", fo.ID, strings.ToLower(fo.Status))})
		}
		fos = append(fos, fo)
	}
	f := &shopifyFulfillmentRec{id: st.gid("Fulfillment"), status: "SUCCESS", orders: fos}
	var number string
	if ti := in.TrackingInfo; ti != nil && (ti.Number != "" || ti.Company != "") {
		f.tracking = []shopifyTracking{*ti}
		number = ti.Number
	}
	for _, fo := range fos {
		fo.Status = "CLOSED"
	}
	o.fulfillments = append(o.fulfillments, f)
	st.owner[f.id] = o.id
	a := shopifyPayload(root, "fulfillment", map[string]any{"id": f.id, "status": f.status, "trackingInfo": f.tracking})
	a.effects = []Effect{{Order: o.id, What: "fulfillment:create", Key: number}}
	return a
}

func shopifyTrackingUpdate(st *shopifyStore, vars json.RawMessage) shopifyAnswer {
	var v struct {
		FulfillmentID     string           `json:"fulfillmentId"`
		TrackingInfoInput *shopifyTracking `json:"trackingInfoInput"`
		NotifyCustomer    bool             `json:"notifyCustomer"`
	}
	if json.Unmarshal(vars, &v) != nil || v.FulfillmentID == "" {
		return shopifyInvalidVariable("fulfillmentId")
	}
	if v.TrackingInfoInput == nil {
		return shopifyErrors("Variable $trackingInfoInput of type FulfillmentTrackingInput! was provided invalid value", "INVALID_VARIABLE")
	}
	const root = "fulfillmentTrackingInfoUpdate"
	o, f := st.fulfillment(v.FulfillmentID)
	if f == nil {
		return shopifyPayload(root, "fulfillment", nil, shopifyUserError{[]string{"fulfillmentId"}, "Fulfillment does not exist."})
	}
	if f.status == "CANCELLED" {
		return shopifyPayload(root, "fulfillment", nil, shopifyUserError{[]string{"fulfillmentId"}, "Cannot update the tracking of a cancelled fulfillment."})
	}
	a := shopifyPayload(root, "fulfillment", map[string]any{"id": f.id, "status": f.status})
	if len(f.tracking) == 1 && f.tracking[0] == *v.TrackingInfoInput {
		return a
	}
	f.tracking = []shopifyTracking{*v.TrackingInfoInput}
	a.effects = []Effect{{Order: o.id, What: "tracking:update", Key: v.TrackingInfoInput.Number}}
	return a
}

func shopifyEventCreate(st *shopifyStore, vars json.RawMessage) shopifyAnswer {
	var v struct {
		FulfillmentEvent *struct {
			FulfillmentID string `json:"fulfillmentId"`
			Status        string `json:"status"`
			HappenedAt    string `json:"happenedAt"`
			Message       string `json:"message"`
		} `json:"fulfillmentEvent"`
	}
	if json.Unmarshal(vars, &v) != nil || v.FulfillmentEvent == nil || v.FulfillmentEvent.FulfillmentID == "" {
		return shopifyErrors("Variable $fulfillmentEvent of type FulfillmentEventInput! was provided invalid value", "INVALID_VARIABLE")
	}
	in := v.FulfillmentEvent
	if !slices.Contains(shopifyEventStatuses, in.Status) {
		return shopifyErrors(fmt.Sprintf("Variable $fulfillmentEvent of type FulfillmentEventInput! was provided invalid value for status (Expected \"%s\" to be one of: %s)",
			in.Status, strings.Join(shopifyEventStatuses, ", ")), "INVALID_VARIABLE")
	}
	if in.HappenedAt != "" {
		if _, err := time.Parse(time.RFC3339, in.HappenedAt); err != nil {
			return shopifyErrors(fmt.Sprintf("Variable $fulfillmentEvent of type FulfillmentEventInput! was provided invalid value for happenedAt (%q is not a DateTime)", in.HappenedAt), "INVALID_VARIABLE")
		}
	}
	const root = "fulfillmentEventCreate"
	field := []string{"fulfillmentEvent", "fulfillmentId"}
	o, f := st.fulfillment(in.FulfillmentID)
	if f == nil {
		return shopifyPayload(root, "fulfillmentEvent", nil, shopifyUserError{field, "Fulfillment does not exist."})
	}
	if f.status == "CANCELLED" {
		return shopifyPayload(root, "fulfillmentEvent", nil, shopifyUserError{field, "Fulfillment is cancelled."})
	}
	f.events = append(f.events, in.Status)
	a := shopifyPayload(root, "fulfillmentEvent", map[string]any{"id": st.gid("FulfillmentEvent"), "status": in.Status})
	a.effects = []Effect{{Order: o.id, What: "event:" + in.Status, Key: "event:" + in.Status}}
	return a
}

func shopifyCancel(st *shopifyStore, vars json.RawMessage) shopifyAnswer {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(vars, &v) != nil || v.ID == "" {
		return shopifyInvalidVariable("id")
	}
	const root = "fulfillmentCancel"
	o, f := st.fulfillment(v.ID)
	if f == nil {
		return shopifyPayload(root, "fulfillment", nil, shopifyUserError{[]string{"id"}, "Fulfillment does not exist."})
	}
	if f.status == "CANCELLED" {
		return shopifyPayload(root, "fulfillment", nil, shopifyUserError{[]string{"id"}, "Fulfillment is already cancelled."})
	}
	f.status = "CANCELLED"
	for _, fo := range f.orders {
		fo.Status = "OPEN"
	}
	a := shopifyPayload(root, "fulfillment", map[string]any{"id": f.id, "status": f.status})
	a.effects = []Effect{{Order: o.id, What: "fulfillment:cancel", Key: "cancel"}}
	return a
}
