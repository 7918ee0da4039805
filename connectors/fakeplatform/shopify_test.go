package fakeplatform_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

// shopifyCall posts one GraphQL operation to the Shopify fake and returns the status and body.
func shopifyCall(t *testing.T, s *fakeplatform.Server, query string, vars map[string]any) (int, gjson.Result) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/admin/api/2025-01/graphql.json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", s.Credential())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, gjson.ParseBytes(b)
}

const (
	shopifyTestOrder  = `query { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id status } } } }`
	shopifyTestCreate = `mutation C($fulfillment: FulfillmentInput!) { fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id } userErrors { field message } } }`
	shopifyTestCancel = `mutation X($id: ID!) { fulfillmentCancel(id: $id) { fulfillment { id status } userErrors { field message } } }`
	shopifyTestEvent  = `mutation E($fulfillmentEvent: FulfillmentEventInput!) { fulfillmentEventCreate(fulfillmentEvent: $fulfillmentEvent) { fulfillmentEvent { id } userErrors { message } } }`
)

func shopifyCreate(t *testing.T, s *fakeplatform.Server, fo, number string) gjson.Result {
	t.Helper()
	_, ans := shopifyCall(t, s, shopifyTestCreate, map[string]any{"fulfillment": map[string]any{
		"lineItemsByFulfillmentOrder": []map[string]any{{"fulfillmentOrderId": fo}},
		"trackingInfo":                map[string]any{"company": "Pilot X", "number": number}}})
	return ans.Get("data.fulfillmentCreate")
}

func TestShopifyFulfillmentLifecycle(t *testing.T) {
	s := fakeplatform.NewShopify(t)
	status, ans := shopifyCall(t, s, shopifyTestOrder, map[string]any{"id": "gid://shopify/Order/1001"})
	fo := ans.Get("data.order.fulfillmentOrders.nodes.0")
	if status != http.StatusOK || fo.Get("status").String() != "OPEN" {
		t.Fatalf("a new order: HTTP %d %s, want one OPEN fulfillment order", status, ans.Raw)
	}
	foID := fo.Get("id").String()

	created := shopifyCreate(t, s, foID, "N1")
	fid := created.Get("fulfillment.id").String()
	if fid == "" || len(created.Get("userErrors").Array()) != 0 {
		t.Fatalf("fulfillmentCreate: %s", created.Raw)
	}
	// The fulfillment order is closed now: a second fulfillment is refused with userErrors.
	if again := shopifyCreate(t, s, foID, "N1"); len(again.Get("userErrors").Array()) != 1 {
		t.Fatalf("fulfillmentCreate on a closed fulfillment order: %s, want a userError", again.Raw)
	}
	if s.Duplicates() != 0 {
		t.Fatalf("a refused fulfillmentCreate counted as a duplicate")
	}
	// Cancelling reopens it; fulfilling it again with the same tracking number is a duplicate.
	_, ans = shopifyCall(t, s, shopifyTestCancel, map[string]any{"id": fid})
	if ans.Get("data.fulfillmentCancel.fulfillment.status").String() != "CANCELLED" {
		t.Fatalf("fulfillmentCancel: %s", ans.Raw)
	}
	if again := shopifyCreate(t, s, foID, "N1"); len(again.Get("userErrors").Array()) != 0 {
		t.Fatalf("fulfillmentCreate after the cancel: %s", again.Raw)
	}
	if d := s.Duplicates(); d != 1 {
		t.Errorf("Duplicates() = %d after a second fulfillment with the same tracking number, want 1", d)
	}
	fs := fakeplatform.ShopifyFulfillments(s, "1001")
	if len(fs) != 2 || fs[0].Status != "CANCELLED" || fs[1].Status != "SUCCESS" {
		t.Errorf("fulfillments %+v", fs)
	}
}

func TestShopifyFailOrderReachesMutations(t *testing.T) {
	s := fakeplatform.NewShopify(t)
	_, ans := shopifyCall(t, s, shopifyTestOrder, map[string]any{"id": "gid://shopify/Order/1001"})
	fid := shopifyCreate(t, s, ans.Get("data.order.fulfillmentOrders.nodes.0.id").String(), "N1").Get("fulfillment.id").String()
	s.FailOrder("1001", fakeplatform.Failure{Status: http.StatusUnprocessableEntity})
	status, _ := shopifyCall(t, s, shopifyTestEvent, map[string]any{"fulfillmentEvent": map[string]any{
		"fulfillmentId": fid, "status": "DELIVERED"}})
	if status != http.StatusUnprocessableEntity {
		t.Errorf("fulfillmentEventCreate on a failing order: HTTP %d, want 422", status)
	}
	s.Recover()
	_, ans = shopifyCall(t, s, shopifyTestEvent, map[string]any{"fulfillmentEvent": map[string]any{
		"fulfillmentId": fid, "status": "TELEPORTED"}})
	if ans.Get("errors.0.extensions.code").String() != "INVALID_VARIABLE" {
		t.Errorf("an unknown event status: %s, want a variable error", ans.Raw)
	}
}

func TestShopifyProtocolErrors(t *testing.T) {
	s := fakeplatform.NewShopify(t)
	_, ans := shopifyCall(t, s, `{ shop { name } }`, nil)
	if ans.Get("errors.0.extensions.code").String() != "undefinedField" {
		t.Errorf("an unknown field: %s", ans.Raw)
	}
	_, ans = shopifyCall(t, s, shopifyTestOrder, map[string]any{"id": "1001"})
	if !ans.Get("errors").IsArray() || ans.Get("data").Exists() {
		t.Errorf("an order id that is not a gid: %s", ans.Raw)
	}
	s.Fail(fakeplatform.Failure{Throttled: true})
	status, ans := shopifyCall(t, s, shopifyTestOrder, map[string]any{"id": "gid://shopify/Order/1"})
	if status != http.StatusOK || ans.Get("errors.0.extensions.code").String() != "THROTTLED" ||
		ans.Get("extensions.cost.throttleStatus.restoreRate").Float() != 50 {
		t.Errorf("throttled: HTTP %d %s", status, ans.Raw)
	}
}
