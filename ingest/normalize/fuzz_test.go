package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// compact strips the indentation of a JSON seed: the fuzzer minimises every interesting
// input byte by byte, in time that grows with the square of its length.
func compact(body []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, body) != nil {
		return body
	}
	return b.Bytes()
}

// checkEvent holds what every successful result must satisfy, whatever the input.
func checkEvent(t *testing.T, ev NormalizedEvent) {
	t.Helper()
	if !ev.Kind.Valid() {
		t.Fatalf("invalid kind %q", ev.Kind)
	}
	if ev.Kind == Ignored {
		if !reflect.DeepEqual(ev, NormalizedEvent{Kind: Ignored, Platform: ev.Platform, EventType: ev.EventType}) {
			t.Fatalf("ignored event with order fields: %+v", ev)
		}
		return
	}
	if ev.ExternalID == "" || len(ev.ExternalID) > MaxIDLength || ev.ExternalRef == "" || len(ev.ExternalRef) > MaxIDLength {
		t.Fatalf("ExternalID %q / ExternalRef %q", ev.ExternalID, ev.ExternalRef)
	}
	for _, a := range []*Address{ev.Pickup, ev.Dropoff} {
		if a == nil || a.Point == nil {
			continue
		}
		if p := a.Point; p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180 || p.Lat != p.Lat || p.Lng != p.Lng {
			t.Fatalf("point off Earth: %+v", p)
		}
	}
	for _, it := range ev.Items {
		if it.Quantity < 0 || it.Quantity != it.Quantity {
			t.Fatalf("bad quantity %v", it.Quantity)
		}
		if it.UnitPrice != "" && !plainDecimal(it.UnitPrice) {
			t.Fatalf("unit price %q is not a decimal", it.UnitPrice)
		}
	}
	if tt := ev.Totals; tt != nil {
		for _, s := range []string{tt.Subtotal, tt.Shipping, tt.Tax, tt.Total} {
			if s != "" && !plainDecimal(s) {
				t.Fatalf("total %q is not a decimal", s)
			}
		}
	}
}

// checkErr holds what every failure must satisfy.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Reason == "" {
		t.Fatalf("error %v (%T) is not an *Error with a reason", err, err)
	}
}

func FuzzNormalize(f *testing.F) {
	platforms := Supported()
	for i, platform := range platforms {
		for _, p := range payloadFiles(f, platform, filepath.Join("testdata", platform)) {
			f.Add(uint8(i), p.eventType(), compact(p.body), p.contentType())
		}
	}
	f.Add(uint8(0), "", []byte(`{"data":{"order":{"entity_id":{"x":1}}}}`), "")
	f.Add(uint8(12), "", []byte(`{"data":"{\"eventType\":\"wix.ecom.v1.order_created\",\"data\":\"{}\"}"}`), "")
	f.Fuzz(func(t *testing.T, platformIndex uint8, eventType string, body []byte, contentType string) {
		platform := platforms[int(platformIndex)%len(platforms)]
		in := append([]byte(nil), body...)
		ev1, err1 := Normalize(platform, eventType, body, contentType)
		ev2, err2 := Normalize(platform, eventType, body, contentType)
		if !reflect.DeepEqual(ev1, ev2) || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("not deterministic:\n%+v %v\n%+v %v", ev1, err1, ev2, err2)
		}
		if !reflect.DeepEqual(in, body) {
			t.Fatal("Normalize changed the body")
		}
		if err1 != nil {
			checkErr(t, err1)
			return
		}
		checkEvent(t, ev1)
	})
}

func FuzzNormalizeMapped(f *testing.F) {
	base := loadMapping(f, "testdata/mapping/jumpseller.settings.json")
	for _, p := range payloadFiles(f, "jumpseller", filepath.Join("testdata", "mapping", "jumpseller")) {
		f.Add("", compact(p.body), "order.products", false)
		f.Add("order_created", compact(p.body), `order.products.#(qty>1)#`, true)
	}
	f.Add("", []byte(`{"event":"order_paid","order":{"id":1,"products":[{"price":"12"}]}}`), "@reverse", true)
	f.Fuzz(func(t *testing.T, eventType string, body []byte, path string, minor bool) {
		// The fuzzed path goes where validation would have refused it too: NormalizeMapped
		// must not panic even with a mapping that skipped Validate.
		m := *base
		m.Items.Path = path
		m.ExternalRef = path
		m.Dropoff.Lat = path
		m.MinorUnits = minor
		ev1, err1 := NormalizeMapped("jumpseller", eventType, body, &m)
		ev2, err2 := NormalizeMapped("jumpseller", eventType, body, &m)
		if !reflect.DeepEqual(ev1, ev2) || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("not deterministic:\n%+v %v\n%+v %v", ev1, err1, ev2, err2)
		}
		_ = m.Validate() // must not panic either
		if err1 != nil {
			checkErr(t, err1)
			return
		}
		checkEvent(t, ev1)
	})
}
