package normalize

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadMapping reads the mapping out of a store settings file, as the hub does.
func loadMapping(t testing.TB, path string) *Mapping {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var settings struct {
		Mapping *Mapping `json:"mapping"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&settings); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if settings.Mapping == nil {
		t.Fatalf("%s: no mapping", path)
	}
	return settings.Mapping
}

func TestGoldenMapping(t *testing.T) {
	m := loadMapping(t, "testdata/mapping/jumpseller.settings.json")
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	files := payloadFiles(t, "jumpseller", filepath.Join("testdata", "mapping", "jumpseller"))
	if len(files) == 0 {
		t.Fatal("no payloads")
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			ev, err := NormalizeMapped("jumpseller", "", f.body, m)
			if err != nil {
				t.Fatalf("NormalizeMapped: %v", err)
			}
			checkGolden(t, f.golden(), ev)
		})
	}
}

func TestNormalizeMapped(t *testing.T) {
	m := &Mapping{
		Kinds:         map[string]Kind{"order.placed": OrderCreated, "order.changed": OrderUpdated},
		EventTypePath: "type",
		ExternalID:    "order.uuid",
		ExternalRef:   "order.ref",
		Version:       "order.rev",
		Dropoff:       AddressMapping{Name: "order.to.name", Line1: "order.to.street", Phone: "order.to.tel", Lat: "order.to.geo.0", Lng: "order.to.geo.1"},
		Pickup:        AddressMapping{Line1: "order.from.street", Lat: "order.from.lat", Lng: "order.from.lng"},
		Items:         ItemsMapping{Path: "order.lines", SKU: "code", Name: "label", Quantity: "n", UnitPrice: "cents"},
		Totals:        TotalsMapping{Currency: "order.cur", Total: "order.total_cents"},
		MinorUnits:    true,
		NeedsRefetch:  false,
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"order.placed","order":{"uuid":"0f8e","ref":"A-17","rev":"12","cur":"EUR","total_cents":2599,
		"to":{"name":"Ana Lopes","street":"Rua do Ouro 40","tel":"+351 910 000 000","geo":["38.7101",-9.1383]},
		"from":{"street":"Praça do Comércio 1","lat":38.7075,"lng":-9.1364},
		"lines":[{"code":"X1","label":"Bifana","n":"3","cents":450},{"label":"Água","n":1,"cents":"1249"}]}}`
	ev, err := NormalizeMapped("acme", "", []byte(body), m)
	if err != nil {
		t.Fatal(err)
	}
	want := NormalizedEvent{
		Kind: OrderCreated, Platform: "acme", EventType: "order.placed", ExternalID: "0f8e", ExternalRef: "A-17",
		SourceVersion: 12,
		Pickup:        &Address{Line1: "Praça do Comércio 1", Point: &Point{38.7075, -9.1364}},
		Dropoff:       &Address{Name: "Ana Lopes", Line1: "Rua do Ouro 40", Phone: "+351 910 000 000", Point: &Point{38.7101, -9.1383}},
		Items:         []Item{{SKU: "X1", Name: "Bifana", Quantity: 3, UnitPrice: "4.50"}, {Name: "Água", Quantity: 1, UnitPrice: "12.49"}},
		Contact:       &Contact{Name: "Ana Lopes", Phone: "+351 910 000 000"},
		Totals:        &Totals{Currency: "EUR", Total: "25.99"},
	}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}

	t.Run("event type from a header wins", func(t *testing.T) {
		ev, err := NormalizeMapped("acme", "order.changed", []byte(body), m)
		if err != nil || ev.Kind != OrderUpdated || ev.EventType != "order.changed" {
			t.Fatalf("got %s %q, %v", ev.Kind, ev.EventType, err)
		}
	})
	t.Run("unmapped type without * is ignored", func(t *testing.T) {
		ev, err := NormalizeMapped("acme", "", []byte(`{"type":"customer.created","customer":{"id":1}}`), m)
		if err != nil || !reflect.DeepEqual(ev, NormalizedEvent{Kind: Ignored, Platform: "acme", EventType: "customer.created"}) {
			t.Fatalf("got %+v, %v", ev, err)
		}
	})
	t.Run("* is the default kind", func(t *testing.T) {
		m2 := *m
		m2.Kinds = map[string]Kind{"*": OrderUpdated}
		m2.NeedsRefetch = true
		ev, err := NormalizeMapped("acme", "", []byte(`{"type":"whatever","order":{"uuid":"0f8e"}}`), &m2)
		if err != nil || ev.Kind != OrderUpdated || !ev.NeedsRefetch || ev.ExternalRef != "0f8e" {
			t.Fatalf("got %+v, %v", ev, err)
		}
	})
	t.Run("missing id", func(t *testing.T) {
		_, err := NormalizeMapped("acme", "", []byte(`{"type":"order.placed","order":{"ref":"A-17"}}`), m)
		var e *Error
		if !errors.As(err, &e) || e.Reason != "no order id at order.uuid" || e.Platform != "acme" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		_, err := NormalizeMapped("acme", "", []byte(`type=order.placed`), m)
		var e *Error
		if !errors.As(err, &e) || e.Reason != "not JSON" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no mapping", func(t *testing.T) {
		for _, m := range []*Mapping{nil, {}} {
			_, err := NormalizeMapped("acme", "", []byte(body), m)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Reason, "no field mapping") {
				t.Fatalf("err = %v", err)
			}
		}
	})
	t.Run("cancelled status", func(t *testing.T) {
		m2 := *m
		m2.Status, m2.CancelledStatuses = "order.state", []string{"VOID"}
		ev, err := NormalizeMapped("acme", "order.changed", []byte(`{"order":{"uuid":"0f8e","state":"void"}}`), &m2)
		if err != nil || ev.Kind != OrderCancelled {
			t.Fatalf("got %s, %v", ev.Kind, err)
		}
	})
}

func TestMappingValidate(t *testing.T) {
	valid := func() Mapping {
		return Mapping{Kinds: map[string]Kind{"a": OrderCreated}, ExternalID: "id"}
	}
	tests := []struct {
		name   string
		edit   func(m *Mapping)
		fields []string // the Field of each *MappingError, in order
	}{
		{"valid", func(*Mapping) {}, nil},
		{"no external_id", func(m *Mapping) { m.ExternalID = "" }, []string{"external_id"}},
		{"bad kind", func(m *Mapping) { m.Kinds["b"] = "order.shipped" }, []string{"kinds.b"}},
		{"empty event type", func(m *Mapping) { m.Kinds[" "] = Ignored }, []string{"kinds"}},
		{"unbalanced query", func(m *Mapping) { m.Dropoff.Lat = `addresses.#(type=="shipping".lat` }, []string{"dropoff.lat"}},
		{"unknown modifier", func(m *Mapping) { m.Totals.Total = "@nope.total" }, []string{"totals.total"}},
		{"empty component", func(m *Mapping) { m.Items.UnitPrice = "price..amount" }, []string{"items.unit_price"}},
		{"several", func(m *Mapping) {
			m.ExternalID = "order."
			m.EventTypePath = "{type"
			m.Contact.Email = `customer\`
		}, []string{"event_type", "external_id", "contact.email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.edit(&m)
			err := m.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var me *MappingError
					if !errors.As(e, &me) {
						t.Fatalf("%v is not a *MappingError", e)
					}
					got = append(got, me.Field)
				}
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("Validate() = %v, want problems in %v", err, tt.fields)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "mapping: ") {
				t.Errorf("error %q does not say it is about the mapping", err)
			}
		})
	}
	var nilMapping *Mapping
	if err := nilMapping.Validate(); err == nil {
		t.Error("a nil mapping validated")
	}
}

func TestCheckPath(t *testing.T) {
	valid := []string{
		"id", "order.id", "order.line_items.0.sku", "friends.#", "friends.#.age", `fav\.movie`, "child*.2", "c?ildren.0",
		`addresses.#(address_type=="shipping")`, `addresses.#(address_type=="shipping").city`,
		`friends.#(last=="Murphy")#.first`, `friends.#(nets.#(=="fb"))#.first`, `friends.#(first%"D*").last`,
		`vals.#(b==~true)#.a`, "friends|0|first", "children.@reverse.0", "@this", `@pretty:{"sortKeys":true}`,
		`{name.first,age,"the_murphys":friends.#(last="Murphy")#.first}`, "[name.first,age]",
		`data.#(name=="a)b")`, "@dig:lat",
	}
	for _, p := range valid {
		if err := checkPath(p); err != nil {
			t.Errorf("checkPath(%q) = %v, want nil", p, err)
		}
	}
	invalid := []string{
		"", ".id", "id.", "a..b", "a||b", "a|", `a\`, "a.#(b==1", "a.#(b==1))", "[a,b", "{a", "a]", "a.#(b==\"x)",
		"@nope", "a.@unknown", "a\x00b", "a\nb", strings.Repeat("a", MaxPathLength+1),
	}
	for _, p := range invalid {
		if err := checkPath(p); err == nil {
			t.Errorf("checkPath(%q) = nil, want an error", p)
		}
	}
}
