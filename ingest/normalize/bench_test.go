package normalize

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// benchPayloads is the payload benchmarked for each platform: its richest order event.
var benchPayloads = map[string]string{
	"adobecommerce": "observer.sales_order_place_after",
	"bigcommerce":   "store_order_created",
	"deliveroo":     "order.new",
	"doordash":      "DASHER_CONFIRMED",
	"ecwid":         "order_created",
	"etsy":          "order_paid",
	"shopify":       "orders_create",
	"shopline":      "orders_create",
	"square":        "order_updated",
	"squarespace":   "order_create",
	"tiendanube":    "order_created",
	"ubereats":      "orders_notification",
	"wix":           "order_canceled", // the raw JWT, three JSON levels deep
	"woocommerce":   "order_created",
}

// benchPayload returns the benchmarked payload of platform.
func benchPayload(b *testing.B, platform string) payloadFile {
	for _, p := range payloadFiles(b, platform, filepath.Join("testdata", platform)) {
		if p.name == benchPayloads[platform] {
			return p
		}
	}
	b.Fatalf("%s: no payload %q", platform, benchPayloads[platform])
	return payloadFile{}
}

func BenchmarkNormalize(b *testing.B) {
	for _, platform := range Supported() {
		file := benchPayload(b, platform)
		b.Run(platform, func(b *testing.B) {
			eventType, contentType := file.eventType(), file.contentType()
			b.SetBytes(int64(len(file.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(platform, eventType, file.body, contentType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnmarshal is the baseline of BenchmarkNormalize: decoding the same JSON (for
// Wix, the JWT's payload) into an any with encoding/json, which reads nothing out of it yet.
func BenchmarkUnmarshal(b *testing.B) {
	for _, platform := range Supported() {
		file := benchPayload(b, platform)
		body := file.body
		if strings.HasSuffix(file.path, ".jwt") {
			payload, reason := jwtPayload(strings.TrimSpace(string(body)))
			if reason != "" {
				b.Fatal(reason)
			}
			body = []byte(payload)
		}
		b.Run(platform, func(b *testing.B) {
			b.SetBytes(int64(len(file.body)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNormalizeMapped(b *testing.B) {
	m := loadMapping(b, "testdata/mapping/jumpseller.settings.json")
	files := payloadFiles(b, "jumpseller", filepath.Join("testdata", "mapping", "jumpseller"))
	for _, f := range files {
		if f.name != "order_paid" {
			continue
		}
		b.SetBytes(int64(len(f.body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NormalizeMapped("jumpseller", "", f.body, m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
