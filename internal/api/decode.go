package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/internal/edge"
)

// readBody checks a request body — at most BodyLimit bytes, JSON, not compressed — and
// returns it; nil for an empty body that is not required. The bytes are Fiber's buffer: use
// them before the handler returns and keep nothing of them.
func readBody(c *fiber.Ctx, required bool) ([]byte, error) {
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, edge.NewError(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Encoding is not supported; send the JSON as is")
	}
	body := c.BodyRaw()
	if len(body) > BodyLimit {
		return nil, edge.NewError(fiber.StatusRequestEntityTooLarge, "payload_too_large", "request body larger than "+strconv.Itoa(BodyLimit>>10)+" KiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return nil, dispatch.FieldErrors{"body": "required: a JSON object"}
		}
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return nil, edge.NewError(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	return body, nil
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	}
	return path + "." + field
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// decodeStrict decodes data into v, refusing unknown fields and trailing data. A failure is
// written to fe under the JSON path of the bad field (below path) and reported by false.
func decodeStrict(data []byte, v any, path string, fe dispatch.FieldErrors) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			fe[orBody(path)] = "unexpected data after the JSON value"
			return false
		}
		return true
	}
	var se *json.SyntaxError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		fe[orBody(path)] = "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &ute):
		fe[orBody(join(path, ute.Field))] = "must be " + kindName(ute.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = "?"
		}
		fe[join(path, name)] = "unknown field"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		fe[orBody(path)] = "malformed JSON: unexpected end"
	default:
		fe[orBody(path)] = "invalid JSON"
	}
	return false
}

// kindName names the JSON type a Go type is read from.
func kindName(t reflect.Type) string {
	if t == nil {
		return "valid"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}

// orderRequest is the body of POST /v1/orders. Nested values are decoded one by one so that
// an error names its exact path ("items[2].quantity").
type orderRequest struct {
	ExternalRef string          `json:"external_ref"`
	Source      string          `json:"source"`
	StoreID     string          `json:"store_id"`
	Pickup      json.RawMessage `json:"pickup"`
	Dropoff     json.RawMessage `json:"dropoff"`
	Items       json.RawMessage `json:"items"`
	Contact     json.RawMessage `json:"contact"`
	Totals      json.RawMessage `json:"totals"`
	Note        string          `json:"note"`
}

type addressRequest struct {
	Name       string          `json:"name"`
	Company    string          `json:"company"`
	Line1      string          `json:"line1"`
	Line2      string          `json:"line2"`
	City       string          `json:"city"`
	Region     string          `json:"region"`
	PostalCode string          `json:"postal_code"`
	Country    string          `json:"country"`
	Phone      string          `json:"phone"`
	Point      json.RawMessage `json:"point"`
}

type pointRequest struct {
	Lat *float64 `json:"lat"`
	Lng *float64 `json:"lng"`
}

// decodeOrder reads the body of POST /v1/orders. It checks the JSON shape only; the
// order's rules are dispatch.NewOrder.Validate's.
func decodeOrder(body []byte) (dispatch.NewOrder, dispatch.FieldErrors) {
	fe := dispatch.FieldErrors{}
	var req orderRequest
	if !decodeStrict(body, &req, "", fe) {
		return dispatch.NewOrder{}, fe
	}
	in := dispatch.NewOrder{ExternalRef: req.ExternalRef, Source: req.Source, StoreID: req.StoreID, Note: req.Note}
	in.Pickup = decodeAddress(req.Pickup, "pickup", fe)
	in.Dropoff = decodeAddress(req.Dropoff, "dropoff", fe)
	if !isNull(req.Items) {
		var items []json.RawMessage
		if decodeStrict(req.Items, &items, "items", fe) {
			if len(items) > dispatch.MaxItems {
				fe["items"] = "must have at most " + strconv.Itoa(dispatch.MaxItems) + " items"
			}
			for i, raw := range items {
				var it struct {
					SKU       string   `json:"sku"`
					Name      string   `json:"name"`
					Quantity  *float64 `json:"quantity"`
					UnitPrice string   `json:"unit_price"`
				}
				path := "items[" + strconv.Itoa(i) + "]"
				if isNull(raw) {
					fe[path] = "must be an object"
					continue
				}
				if !decodeStrict(raw, &it, path, fe) {
					continue
				}
				if it.Quantity == nil {
					fe[path+".quantity"] = "required"
					continue
				}
				in.Items = append(in.Items, normalize.Item{SKU: it.SKU, Name: it.Name, Quantity: *it.Quantity, UnitPrice: it.UnitPrice})
			}
		}
	}
	if !isNull(req.Contact) {
		in.Contact = new(normalize.Contact)
		decodeStrict(req.Contact, in.Contact, "contact", fe)
	}
	if !isNull(req.Totals) {
		in.Totals = new(normalize.Totals)
		decodeStrict(req.Totals, in.Totals, "totals", fe)
	}
	return in, fe
}

func decodeAddress(raw json.RawMessage, path string, fe dispatch.FieldErrors) *normalize.Address {
	if isNull(raw) {
		return nil
	}
	var a addressRequest
	if !decodeStrict(raw, &a, path, fe) {
		return nil
	}
	out := &normalize.Address{Name: a.Name, Company: a.Company, Line1: a.Line1, Line2: a.Line2, City: a.City,
		Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Phone: a.Phone}
	if !isNull(a.Point) {
		var p pointRequest
		if decodeStrict(a.Point, &p, path+".point", fe) {
			switch {
			case p.Lat == nil:
				fe[path+".point.lat"] = "required"
			case p.Lng == nil:
				fe[path+".point.lng"] = "required"
			default:
				out.Point = &normalize.Point{Lat: *p.Lat, Lng: *p.Lng}
			}
		}
	}
	return out
}

// cancelRequest is the body of POST /v1/orders/{id}/cancel.
type cancelRequest struct {
	Reason string `json:"reason"`
}

// queryTime reads the query parameter name, when present, as an RFC 3339 time; a bad value is
// recorded in fe.
func queryTime(c *fiber.Ctx, name string, fe dispatch.FieldErrors) time.Time {
	s := c.Query(name)
	if s == "" {
		return time.Time{}
	}
	t, ok := parseTime(s)
	if !ok {
		fe[name] = timeHint
	}
	return t
}

// queryLimit reads ?limit=, 1 to max, when present (0 when absent); a bad value is recorded in
// fe.
func queryLimit(c *fiber.Ctx, max int, fe dispatch.FieldErrors) int {
	s := c.Query("limit")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		fe["limit"] = "must be 1-" + strconv.Itoa(max)
	}
	return n
}

// parseTime reads a query parameter in RFC 3339. A '+' of the zone that arrived as a space
// (an unencoded query) is read as '+'.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Count(s, " ") == 1 {
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1))
	}
	return t, err == nil
}

const timeHint = "must be an RFC 3339 time such as 2025-05-01T12:00:00Z"
