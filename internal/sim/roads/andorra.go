package roads

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"
)

// andorraRoads is the drivable road network around Andorra la Vella and
// Escaldes-Engordany, from OpenStreetMap (© OpenStreetMap contributors,
// ODbL 1.0), cropped and encoded by scripts/roadgen.
//
//go:embed andorra.roads.gz
var andorraRoads []byte

var andorra = sync.OnceValues(func() (*Graph, error) {
	g, err := Decode(bytes.NewReader(andorraRoads))
	if err != nil {
		return nil, fmt.Errorf("andorra: %w", err)
	}
	return g, nil
})

// Andorra is the embedded road network of Andorra la Vella and
// Escaldes-Engordany (OpenStreetMap data, © OpenStreetMap contributors,
// ODbL 1.0). It is decoded on the first call and shared afterwards.
func Andorra() (*Graph, error) { return andorra() }
