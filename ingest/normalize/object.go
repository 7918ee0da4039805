package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// object holds the members of a JSON object read in one pass. Every Result.Get scans its
// object from the start, so reading twenty members of a 5 KB order costs twenty scans
// across its line items; an object costs one.
type object struct {
	raw  gjson.Result
	keys []string
	vals []gjson.Result
}

// members reads the members of obj whose names are in want (the first of duplicates, as
// gjson does). obj that is not an object gives an empty object.
func members(obj gjson.Result, want []string) object {
	o := object{raw: obj, keys: want, vals: make([]gjson.Result, len(want))}
	if !obj.IsObject() {
		return o
	}
	found := 0
	obj.ForEach(func(key, value gjson.Result) bool {
		for i, k := range want {
			if k == key.Str && !o.vals[i].Exists() {
				o.vals[i] = value
				found++
				break
			}
		}
		return found < len(want)
	})
	return o
}

// get returns the member named by the first component of path, then the rest of path
// inside it ("shipping_address.latitude"). A name that was not in want is read from the
// object itself: right, only slower.
func (o object) get(path string) gjson.Result {
	name, rest, nested := strings.Cut(path, ".")
	for i, k := range o.keys {
		if k == name {
			if nested {
				return o.vals[i].Get(rest)
			}
			return o.vals[i]
		}
	}
	return o.raw.Get(path)
}
