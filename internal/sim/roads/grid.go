package roads

// Grid is a synthetic street grid centred on center: blocks × blocks city
// blocks, that is (blocks+1) × (blocks+1) intersections joined to their
// neighbours by streets spacingM metres long, running north-south and
// east-west. blocks below 1 counts as 1; spacingM of 0 or less as 100 m.
func Grid(center Point, blocks int, spacingM float64) *Graph {
	blocks = max(blocks, 1)
	if !(spacingM > 0) {
		spacingM = 100
	}
	side := blocks + 1
	half := float64(blocks) * spacingM / 2
	var b builder
	for r := range side {
		for c := range side {
			b.node(offset(center, float64(r)*spacingM-half, float64(c)*spacingM-half))
		}
	}
	id := func(r, c int) int32 { return int32(r*side + c) }
	for r := range side {
		for c := range side {
			if c+1 < side {
				b.edge(id(r, c), id(r, c+1))
			}
			if r+1 < side {
				b.edge(id(r, c), id(r+1, c))
			}
		}
	}
	g, err := b.build()
	if err != nil { // unreachable: a grid has at least four nodes and edges
		panic("roads: grid: " + err.Error())
	}
	return g
}
