package normalize

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata .golden.json files from the current output")

// headerTopics are the event types that come in a header rather than in the body, by
// testdata file (platform/name without extension); a file not listed has its type in the
// body. Adobe Commerce files are named after their event.
var headerTopics = map[string]string{
	"shopify/orders_create":               "orders/create",
	"shopify/orders_updated":              "orders/updated",
	"shopify/orders_cancelled":            "orders/cancelled",
	"shopify/orders_delete":               "orders/delete",
	"shopify/products_update":             "products/update",
	"shopline/orders_create":              "orders/create",
	"shopline/orders_update":              "orders/update",
	"woocommerce/order_created":           "order.created",
	"woocommerce/order_updated":           "order.updated",
	"woocommerce/order_updated_cancelled": "order.updated",
	"woocommerce/order_deleted":           "order.deleted",
}

// payloadFile is one testdata payload.
type payloadFile struct {
	platform, name, path string
	body                 []byte
}

// contentType is what the platform would send with the file's body.
func (p payloadFile) contentType() string {
	if strings.HasSuffix(p.path, ".jwt") {
		return "text/plain; charset=utf-8"
	}
	return "application/json"
}

// eventType is what the edge would pass: the header's topic, or nothing when the type is
// in the body.
func (p payloadFile) eventType() string {
	if p.platform == "adobecommerce" {
		return p.name
	}
	return headerTopics[p.platform+"/"+p.name]
}

// golden is the path of the expected output.
func (p payloadFile) golden() string {
	return strings.TrimSuffix(p.path, filepath.Ext(p.path)) + ".golden.json"
}

// payloadFiles lists the payloads of dir (testdata/<platform>): *.json and *.jwt but the
// goldens, sorted.
func payloadFiles(t testing.TB, platform, dir string) []payloadFile {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []payloadFile
	for _, e := range entries {
		n := e.Name()
		ext := filepath.Ext(n)
		if e.IsDir() || strings.HasSuffix(n, ".golden.json") || (ext != ".json" && ext != ".jwt") {
			continue
		}
		path := filepath.Join(dir, n)
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, payloadFile{platform: platform, name: strings.TrimSuffix(n, ext), path: path, body: body})
	}
	return out
}

// checkGolden compares ev, as indented JSON, with the file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, ev NormalizedEvent) {
	t.Helper()
	got, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	for _, platform := range Supported() {
		files := payloadFiles(t, platform, filepath.Join("testdata", platform))
		if len(files) == 0 {
			t.Errorf("%s: no payloads in testdata/%s", platform, platform)
		}
		for _, f := range files {
			t.Run(platform+"/"+f.name, func(t *testing.T) {
				ev, err := Normalize(platform, f.eventType(), f.body, f.contentType())
				if err != nil {
					t.Fatalf("Normalize: %v", err)
				}
				checkGolden(t, f.golden(), ev)
			})
		}
	}
}
