package roads

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/paulmach/osm"
	"github.com/paulmach/osm/osmxml"
)

// drivable are the highway classes a delivery vehicle may use.
var drivable = map[string]bool{
	"motorway": true, "trunk": true, "primary": true, "secondary": true, "tertiary": true,
	"motorway_link": true, "trunk_link": true, "primary_link": true, "secondary_link": true, "tertiary_link": true,
	"unclassified": true, "residential": true, "living_street": true, "service": true,
}

// LoadOSM reads OSM XML and builds the graph of its drivable roads: ways whose
// highway tag is motorway, trunk, primary, secondary, tertiary (or one of their
// _link roads), unclassified, residential, living_street or service, except
// areas (area=yes) and ways closed to traffic (access=no or access=private).
// Each pair of consecutive way nodes is an edge, in both directions (oneway
// is ignored, see the package doc); a way is cut where it references a node
// the file does not hold, as at the edge of an extract. Only the largest
// connected component is kept. Node numbers follow the order in which the
// nodes first appear in the kept ways, so the same file always gives the same
// graph. It returns ErrNoRoads when nothing drivable is left.
func LoadOSM(r io.Reader) (*Graph, error) {
	sc := osmxml.New(context.Background(), r)
	defer sc.Close()

	coords := make(map[osm.NodeID]Point)
	var refs []osm.NodeID // the nodes of every kept way, each way ended by wayEnd
	const wayEnd = osm.NodeID(math.MinInt64)
	for sc.Scan() {
		switch o := sc.Object().(type) {
		case *osm.Node:
			if !validLatLng(o.Lat, o.Lon) {
				return nil, fmt.Errorf("load osm: node %d: bad position %v,%v", o.ID, o.Lat, o.Lon)
			}
			coords[o.ID] = Point{Lat: o.Lat, Lng: o.Lon}
		case *osm.Way:
			if !drivable[o.Tags.Find("highway")] || o.Tags.Find("area") == "yes" {
				continue
			}
			if a := o.Tags.Find("access"); a == "no" || a == "private" {
				continue
			}
			for _, wn := range o.Nodes {
				if wn.ID != wayEnd {
					refs = append(refs, wn.ID)
				}
			}
			refs = append(refs, wayEnd)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load osm: %w", err)
	}

	var b builder
	num := make(map[osm.NodeID]int32)
	prev := int32(-1)
	for _, id := range refs {
		if id == wayEnd {
			prev = -1
			continue
		}
		p, ok := coords[id]
		if !ok {
			prev = -1
			continue
		}
		v, ok := num[id]
		if !ok {
			v = b.node(p)
			num[id] = v
		}
		if prev >= 0 {
			b.edge(prev, v)
		}
		prev = v
	}
	g, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("load osm: %w", err)
	}
	return g, nil
}

func validLatLng(lat, lng float64) bool {
	return lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}
