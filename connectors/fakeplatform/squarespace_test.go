package fakeplatform_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

const squarespaceTestBody = `{"shouldSendNotification":true,"shipments":[{"shipDate":"2025-03-07T15:50:00Z","carrierName":"Pilot X","service":"local delivery","trackingNumber":"T1"}]}`

// squarespaceFulfil posts a fulfilment of order to the Squarespace fake under key ("" for
// none) and returns the status and body.
func squarespaceFulfil(t *testing.T, s *fakeplatform.Server, order, key, body string) (int, gjson.Result) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/1.0/commerce/orders/"+order+"/fulfillments", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Credential())
	req.Header.Set("User-Agent", "fakeplatform-test")
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
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

func TestSquarespaceIdempotencyKey(t *testing.T) {
	s := fakeplatform.NewSquarespace(t)
	for i := range 2 {
		if status, ans := squarespaceFulfil(t, s, "A", "k1", squarespaceTestBody); status != http.StatusNoContent {
			t.Fatalf("fulfilment %d under k1: HTTP %d %s, want 204", i+1, status, ans.Raw)
		}
	}
	if n := len(s.Effects()); n != 1 {
		t.Fatalf("%d effects after a replayed key, want 1", n)
	}
	status, ans := squarespaceFulfil(t, s, "A", "k2", squarespaceTestBody)
	if status != http.StatusConflict || ans.Get("type").String() != "CONFLICT" || !ans.Get("contextId").Exists() {
		t.Errorf("fulfilling a fulfilled order under another key: HTTP %d %s, want 409 with an error object", status, ans.Raw)
	}
	if status, _ := squarespaceFulfil(t, s, "A", "", squarespaceTestBody); status != http.StatusConflict {
		t.Errorf("fulfilling a fulfilled order without a key: HTTP %d, want 409", status)
	}
	if status, _ := squarespaceFulfil(t, s, "B", "k1", squarespaceTestBody); status != http.StatusBadRequest {
		t.Errorf("key k1 reused for another order: HTTP %d, want 400", status)
	}
	if s.Duplicates() != 0 || len(s.Effects()) != 1 {
		t.Errorf("effects %v, duplicates %d", s.Effects(), s.Duplicates())
	}
	o := fakeplatform.SquarespaceOrderState(s, "A")
	if o.FulfillmentStatus != "FULFILLED" || len(o.Shipments) != 1 || o.Shipments[0].TrackingNumber != "T1" {
		t.Errorf("order %+v", o)
	}
}

func TestSquarespaceRequestChecks(t *testing.T) {
	s := fakeplatform.NewSquarespace(t)
	for name, body := range map[string]string{
		"not JSON":          `{"shipments":`,
		"no carrier":        `{"shipments":[{"shipDate":"2025-03-07T15:50:00Z","service":"x","trackingNumber":"T1"}]}`,
		"bad date":          `{"shipments":[{"shipDate":"07/03/2025","carrierName":"c","service":"x","trackingNumber":"T1"}]}`,
		"bad tracking link": `{"shipments":[{"shipDate":"2025-03-07T15:50:00Z","carrierName":"c","service":"x","trackingNumber":"T1","trackingUrl":"not a url"}]}`,
	} {
		status, ans := squarespaceFulfil(t, s, "A", "", body)
		if status != http.StatusBadRequest || ans.Get("type").String() != "INVALID_REQUEST_ERROR" {
			t.Errorf("%s: HTTP %d %s, want 400 INVALID_REQUEST_ERROR", name, status, ans.Raw)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/1.0/commerce/orders/A/fulfillments", strings.NewReader(squarespaceTestBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Credential())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "") // sent without one
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no User-Agent: HTTP %d, want 400", resp.StatusCode)
	}
	if n := len(s.Effects()); n != 0 {
		t.Errorf("refused requests had %d effects", n)
	}
}
