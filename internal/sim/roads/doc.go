// Package roads is the simulator's road network: a graph of intersections and
// road shape points joined by undirected edges, shortest paths over it (A*),
// a walker that moves a vehicle along a path, and a GPS model that adds noise
// and dropouts to what the vehicle reports.
//
// Two networks are available: Andorra, an extract of OpenStreetMap roads
// around Andorra la Vella and Escaldes-Engordany embedded in the binary, and
// Grid, a synthetic street grid. LoadOSM builds a graph from any OSM XML.
//
// Every edge is two-way: OSM oneway tags are ignored, which lets a driver
// route both ways along a one-way street. The simulator needs plausible
// movement, not legal turn-by-turn routing, and two-way edges keep every
// node reachable from every other one.
//
// Map data © OpenStreetMap contributors, ODbL 1.0
// (https://www.openstreetmap.org/copyright); see the ATTRIBUTION file.
//
// Everything here is pure computation: a Graph is immutable once built and
// safe for concurrent use, and randomness comes from the caller's *rand.Rand
// so that a seeded run is reproducible.
package roads
