package shopify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		ok        bool
		throttled bool
		permanent bool
		wait      time.Duration
	}{
		{name: "data", body: `{"data":{"order":{"id":"gid://shopify/Order/1"}}}`, ok: true},
		{name: "empty errors", body: `{"data":{"order":null},"errors":[]}`, ok: true},
		{name: "null errors", body: `{"data":{},"errors":null}`, ok: true},
		{name: "throttled", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":252,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":2,"restoreRate":50.0}}}}`,
			throttled: true, wait: 5 * time.Second},
		{name: "throttled partial second", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":101,"throttleStatus":{"currentlyAvailable":0,"restoreRate":50}}}}`,
			throttled: true, wait: 3 * time.Second},
		{name: "throttled bucket refilled", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":10,"throttleStatus":{"currentlyAvailable":900,"restoreRate":50}}}}`,
			throttled: true, wait: time.Second},
		{name: "throttled without cost", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}`,
			throttled: true, wait: time.Second},
		{name: "throttled zero restore rate", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":500,"throttleStatus":{"currentlyAvailable":0,"restoreRate":0}}}}`,
			throttled: true, wait: time.Second},
		{name: "throttled absurd cost", body: `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":1e300,"throttleStatus":{"currentlyAvailable":0,"restoreRate":1}}}}`,
			throttled: true, wait: time.Hour},
		{name: "internal error", body: `{"errors":[{"message":"Internal error. Looks like something went wrong on our end.","extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"x"}}]}`},
		{name: "undefined field", body: `{"errors":[{"message":"Field 'x' doesn't exist on type 'QueryRoot'","extensions":{"code":"undefinedField"}}]}`, permanent: true},
		{name: "access denied", body: `{"errors":[{"message":"Access denied for fulfillmentCreate field.","extensions":{"code":"ACCESS_DENIED"}}],"data":{"fulfillmentCreate":null}}`, permanent: true},
		{name: "errors string", body: `{"errors":"[API] Invalid API key or access token"}`, permanent: true},
		{name: "not JSON", body: `<html>502 Bad Gateway</html>`},
		{name: "truncated", body: `{"data":{"order":`},
		{name: "no data", body: `{"extensions":{}}`},
		{name: "data not an object", body: `{"data":[1,2]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := decode("order", []byte(tc.body))
			if tc.ok {
				if err != nil || !data.IsObject() {
					t.Fatalf("decode = %v, %v; want the data object", data.Raw, err)
				}
				return
			}
			var pe *connectors.PlatformError
			if !errors.As(err, &pe) {
				t.Fatalf("decode error = %T %v, want a *connectors.PlatformError", err, err)
			}
			if pe.Status != 200 || pe.Platform != Platform || pe.Op != "order" {
				t.Errorf("PlatformError = %+v, want Status 200, Platform shopify, Op order", pe)
			}
			if pe.Throttled != tc.throttled || pe.Permanent != tc.permanent || pe.RetryAfter != tc.wait {
				t.Errorf("Throttled %v Permanent %v RetryAfter %v; want %v %v %v", pe.Throttled, pe.Permanent, pe.RetryAfter,
					tc.throttled, tc.permanent, tc.wait)
			}
			if connectors.Retryable(err) == tc.permanent {
				t.Errorf("Retryable = %v with Permanent %v", connectors.Retryable(err), tc.permanent)
			}
		})
	}
}

func TestExcerptCutsOnRuneBoundary(t *testing.T) {
	b := []byte(strings.Repeat("é", connectors.ExcerptLimit))
	got := excerpt(b)
	if len(got) > connectors.ExcerptLimit || !strings.HasPrefix(string(b), got) || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("excerpt: %d bytes, not a clean prefix", len(got))
	}
	if got := excerpt([]byte("short")); got != "short" {
		t.Fatalf("excerpt(short) = %q", got)
	}
}

// FuzzDecode feeds the GraphQL answer decoder arbitrary bodies: it must not panic, and what it
// returns must keep the decoder's promises.
func FuzzDecode(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "answers", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"errors":[{"extensions":{"code":"THROTTLED"}}],"extensions":{"cost":{"requestedQueryCost":"NaN","throttleStatus":{"currentlyAvailable":-1e308,"restoreRate":1e-308}}}}`))
	f.Add([]byte(`{"errors":{"code":"THROTTLED"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff, 0xfe, '{'})
	f.Fuzz(func(t *testing.T, body []byte) {
		data, err := decode("fulfillmentCreate", body)
		if err == nil {
			if !data.IsObject() {
				t.Fatalf("decode returned no error and data %q", data.Raw)
			}
			return
		}
		var pe *connectors.PlatformError
		if !errors.As(err, &pe) {
			t.Fatalf("decode error %T is not a *connectors.PlatformError", err)
		}
		if pe.Platform != Platform || pe.Status != 200 || len(pe.Excerpt) > connectors.ExcerptLimit+len("not JSON: ")+len("no data: ") {
			t.Fatalf("PlatformError %+v", pe)
		}
		if pe.Throttled && (pe.Permanent || pe.RetryAfter < time.Second || pe.RetryAfter > time.Hour) {
			t.Fatalf("throttled with Permanent %v, RetryAfter %v", pe.Permanent, pe.RetryAfter)
		}
		if !pe.Throttled && pe.RetryAfter != 0 {
			t.Fatalf("RetryAfter %v without throttling", pe.RetryAfter)
		}
	})
}
