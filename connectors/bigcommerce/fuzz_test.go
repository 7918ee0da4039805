package bigcommerce

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

func FuzzOrderStatusID(f *testing.F) {
	b, err := os.ReadFile("testdata/order.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"status_id":10}`))
	f.Add([]byte(`[{"status":404,"message":"The requested resource was not found."}]`))
	f.Add([]byte(`{"status_id":1e1,"status_id":3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := OrderStatusID(body)
		if err != nil {
			return
		}
		if !json.Valid(body) || id < 0 || id > 1000 {
			t.Fatalf("OrderStatusID(%q) = %d for an answer that is not an order", body, id)
		}
	})
}

func FuzzResetWait(f *testing.F) {
	for _, s := range []string{"1500", "", "-1", "0x10", "9223372036854775807", " 30000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := ResetWait(v)
		if d < 0 || d > time.Hour {
			t.Fatalf("ResetWait(%q) = %v, out of [0, 1h]", v, d)
		}
		if ms, err := strconv.Atoi(v); err == nil && ms > 0 && ms < 3600000 && d != time.Duration(ms)*time.Millisecond {
			t.Fatalf("ResetWait(%q) = %v, want %d ms", v, d, ms)
		}
	})
}
