package woocommerce

import (
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"
)

func FuzzOrderStatus(f *testing.F) {
	for _, name := range []string{"testdata/order.json", "testdata/notes.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"status":"completed"}`))
	f.Add([]byte(`{"status":"comp\u006cet\ud800ed","status":"x"}`))
	f.Add([]byte(`{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		status, err := OrderStatus(body)
		if err != nil {
			return
		}
		if status == "" || !json.Valid(body) {
			t.Fatalf("OrderStatus(%q) = %q for an answer that is not an order", body, status)
		}
	})
}

func FuzzHasNote(f *testing.F) {
	b, err := os.ReadFile("testdata/notes.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "[dispatchhub:evt-01]")
	f.Add([]byte(`[]`), "[dispatchhub:x]")
	f.Add([]byte(`[{"note":"a [dispatchhub:x] b"},{"note":7}]`), "7")
	f.Add([]byte(`[{"note":"[dispatchhub:\u0078]"}]`), "[dispatchhub:x]")
	f.Add([]byte(`[{"note":"x"}]`), `[dispatchhub:<a&b>"\/]`)
	f.Fuzz(func(t *testing.T, body []byte, marker string) {
		found, err := HasNote(body, marker)
		if err == nil && !json.Valid(body) {
			t.Fatalf("HasNote accepted %q, which is not JSON", body)
		}
		if found {
			if half, err := HasNote(body, marker[:len(marker)/2]); !half || err != nil {
				t.Fatalf("HasNote(%q) finds %q but not its first half", body, marker)
			}
		}
		if !utf8.ValidString(marker) {
			return
		}
		// A note written by encoding/json (escaping <, >, & and quotes) is found.
		list, _ := json.Marshal([]map[string]any{{"id": 1, "note": 7}, {"note": "before " + marker + " after"}})
		if found, err := HasNote(list, marker); !found || err != nil {
			t.Fatalf("HasNote(%s, %q) = %v, %v; want true", list, marker, found, err)
		}
	})
}
