package roads

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The encoded graph, inside a gzip stream:
//
//	magic   "roads1\n"
//	n       uvarint, the number of nodes
//	nodes   n × (lat, lng): zigzag varints of the change from the previous
//	        node (from 0,0 for the first) in units of 1e-7 degree, the
//	        precision of OSM
//	m       uvarint, the number of edges
//	edges   m × (a, b-a) with a < b: uvarints, a as the change from the
//	        previous edge's a; edges sorted by a, then b
//
// Edge lengths are not stored: Decode computes them from the positions.
const magic = "roads1\n"

// coordScale is the number of fixed-point units in a degree.
const coordScale = 1e7

// maxEncoded bounds the node and edge counts Decode accepts.
const maxEncoded = 1 << 24

// ErrFormat is returned by Decode for input that is not an encoded graph.
var ErrFormat = errors.New("roads: not an encoded graph")

// Encode writes g in the package's compact format (positions rounded to
// 1e-7 degree), gzip-compressed. The output depends only on g.
func (g *Graph) Encode(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("encode graph: %w", err)
	}
	bw := bufio.NewWriter(zw)
	var buf [binary.MaxVarintLen64]byte
	uv := func(x uint64) { bw.Write(buf[:binary.PutUvarint(buf[:], x)]) }
	sv := func(x int64) { bw.Write(buf[:binary.PutVarint(buf[:], x)]) }

	bw.WriteString(magic)
	uv(uint64(len(g.pts)))
	var pLat, pLng int64
	for _, p := range g.pts {
		lat, lng := fixed(p.Lat), fixed(p.Lng)
		sv(lat - pLat)
		sv(lng - pLng)
		pLat, pLng = lat, lng
	}
	uv(uint64(g.Edges()))
	prevA := 0
	var nb []int32
	for a := range g.pts {
		nb = nb[:0]
		for e := g.off[a]; e < g.off[a+1]; e++ {
			if int(g.adj[e]) > a {
				nb = append(nb, g.adj[e])
			}
		}
		slices.Sort(nb)
		for _, b := range nb {
			uv(uint64(a - prevA))
			uv(uint64(int(b) - a))
			prevA = a
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode graph: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("encode graph: %w", err)
	}
	return nil
}

func fixed(deg float64) int64 { return int64(math.Round(deg * coordScale)) }

// Decode reads a graph written by Encode. It keeps the largest connected
// component, like every constructor, and returns an error wrapping ErrFormat
// for anything else than an encoded graph.
func Decode(r io.Reader) (*Graph, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("decode graph: %w: %w", ErrFormat, err)
	}
	defer zr.Close()
	br := bufio.NewReader(zr)
	fail := func(what string, err error) error {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("decode graph: %s: %w: %w", what, ErrFormat, err)
	}

	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != magic {
		return nil, fail("magic", err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxEncoded {
		return nil, fail("node count", err)
	}
	var b builder
	var lat, lng int64
	for range n {
		dLat, err1 := binary.ReadVarint(br)
		dLng, err2 := binary.ReadVarint(br)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fail("nodes", err)
		}
		lat, lng = lat+dLat, lng+dLng
		p := Point{Lat: float64(lat) / coordScale, Lng: float64(lng) / coordScale}
		if !validLatLng(p.Lat, p.Lng) {
			return nil, fail("nodes", fmt.Errorf("bad position %v,%v", p.Lat, p.Lng))
		}
		b.node(p)
	}
	m, err := binary.ReadUvarint(br)
	if err != nil || m > maxEncoded {
		return nil, fail("edge count", err)
	}
	var a uint64
	for range m {
		da, err1 := binary.ReadUvarint(br)
		db, err2 := binary.ReadUvarint(br)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fail("edges", err)
		}
		if da >= n-a {
			return nil, fail("edges", fmt.Errorf("edge start %d+%d out of %d nodes", a, da, n))
		}
		a += da
		if db == 0 || db >= n-a {
			return nil, fail("edges", fmt.Errorf("edge %d+%d out of %d nodes", a, db, n))
		}
		b.edge(int32(a), int32(a+db))
	}
	if _, err := br.ReadByte(); err == nil {
		return nil, fail("trailing data", errors.New("bytes after the last edge"))
	} else if !errors.Is(err, io.EOF) {
		return nil, fail("trailing data", err)
	}
	g, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("decode graph: %w", err)
	}
	return g, nil
}
