package normalize

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// This file reads scalar values out of payloads the way every platform needs them: ids that
// may be numbers or strings, money that must stay decimal, coordinates that may be strings,
// and timestamps in whatever layout the platform likes.

// first returns the first of rs that exists and is not null.
func first(rs ...gjson.Result) gjson.Result {
	for _, r := range rs {
		if r.Exists() && r.Type != gjson.Null {
			return r
		}
	}
	return gjson.Result{}
}

// idOf reads an identifier: a string (trimmed) or an integer written as a number. Anything
// else, and strings with control characters, give "".
func idOf(r gjson.Result) string {
	var s string
	switch r.Type {
	case gjson.String:
		s = strings.TrimSpace(r.Str)
	case gjson.Number:
		s = r.Raw
	default:
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return ""
		}
	}
	return s
}

// str reads text: a string (trimmed) or a number as written. Other types give "".
func str(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return strings.TrimSpace(r.Str)
	case gjson.Number:
		return r.Raw
	}
	return ""
}

// firstStr returns the first non-empty str of rs.
func firstStr(rs ...gjson.Result) string {
	for _, r := range rs {
		if s := str(r); s != "" {
			return s
		}
	}
	return ""
}

// joinName joins the non-empty parts with single spaces.
func joinName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// decimalOf reads money sent in major units: a JSON number or a string holding a plain
// decimal ("12", "-3.50"), returned exactly as written. Anything else gives "".
func decimalOf(r gjson.Result) string {
	var s string
	switch r.Type {
	case gjson.Number:
		s = r.Raw
	case gjson.String:
		s = strings.TrimSpace(r.Str)
	default:
		return ""
	}
	if !plainDecimal(s) {
		return ""
	}
	return s
}

// plainDecimal reports whether s is [-]digits[.digits].
func plainDecimal(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	return allDigits(intPart) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// minorOf reads money sent in minor units (an integer, as a number or a string: 1999 cents)
// and writes it as a decimal with the currency's digits ("19.99"). Non-integers give "".
func minorOf(r gjson.Result, currency string) string {
	var s string
	switch r.Type {
	case gjson.Number:
		s = r.Raw
	case gjson.String:
		s = strings.TrimSpace(r.Str)
	default:
		return ""
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if !allDigits(s) {
		return ""
	}
	s = strings.TrimLeft(s, "0")
	exp := currencyDigits(currency)
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	if exp > 0 {
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg && strings.Trim(s, "0.") != "" {
		s = "-" + s
	}
	return s
}

// currencyDigits is the number of minor-unit digits of an ISO 4217 currency (2 when unknown).
func currencyDigits(currency string) int {
	switch strings.ToUpper(strings.TrimSpace(currency)) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
		"VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// numberOf reads a finite number sent as a JSON number or as a numeric string.
func numberOf(r gjson.Result) (float64, bool) {
	var s string
	switch r.Type {
	case gjson.Number:
		s = r.Raw
	case gjson.String:
		s = strings.TrimSpace(r.Str)
		for i := 0; i < len(s); i++ {
			c := s[i]
			if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
				return 0, false // refuses "NaN", "Inf", hex and "_" that ParseFloat would take
			}
		}
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// quantityOf reads a non-negative quantity; anything else gives 0.
func quantityOf(r gjson.Result) float64 {
	q, ok := numberOf(r)
	if !ok || q < 0 {
		return 0
	}
	return q
}

// pointOf reads a coordinate pair given as numbers or numeric strings. A pair that is
// missing, off Earth, or exactly 0,0 (what geocoders write when they have nothing) is nil.
func pointOf(lat, lng gjson.Result) *Point {
	la, ok1 := numberOf(lat)
	lo, ok2 := numberOf(lng)
	if !ok1 || !ok2 || la < -90 || la > 90 || lo < -180 || lo > 180 || (la == 0 && lo == 0) {
		return nil
	}
	return &Point{Lat: la, Lng: lo}
}

// timeLayouts are the layouts platforms write; a layout without a zone is read as UTC
// (WooCommerce *_gmt, Magento).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00", // Squarespace: no seconds
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
}

// timeOf reads a timestamp: a string in one of timeLayouts, or Unix seconds (milliseconds
// when larger than 1e11) as a number. Anything unreadable, or outside 1970..9999, is zero.
func timeOf(r gjson.Result) time.Time {
	var t time.Time
	switch r.Type {
	case gjson.String:
		s := strings.TrimSpace(r.Str)
		if s == "" {
			return time.Time{}
		}
		for _, layout := range timeLayouts {
			if p, err := time.Parse(layout, s); err == nil {
				t = p
				break
			}
		}
	case gjson.Number:
		n, ok := numberOf(r)
		if !ok || n <= 0 || n >= 1e15 {
			return time.Time{}
		}
		if n < 1e11 {
			t = time.Unix(int64(n), 0)
		} else {
			t = time.UnixMilli(int64(n))
		}
	}
	if t.IsZero() || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}
	}
	return t.UTC()
}

// versionOf reads a non-negative integer version.
func versionOf(r gjson.Result) int64 {
	s := str(r)
	if !allDigits(s) {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// lowerContains reports whether s, lower-cased, contains any of subs.
func lowerContains(s string, subs ...string) bool {
	s = strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
