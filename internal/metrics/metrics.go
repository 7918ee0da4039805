// Package metrics builds the process's Prometheus registry: Go runtime, process and build
// information, to which every component adds its own collectors. No global registry is used.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pilotx/dispatchhub/internal/buildinfo"
)

// Namespace prefixes every metric of the hub.
const Namespace = "dispatchhub"

// NewRegistry returns a registry with the runtime, process and build-info collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	bi := buildinfo.Get()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace:   Namespace,
			Name:        "build_info",
			Help:        "Build information of the running binary; always 1.",
			ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.Go},
		}, func() float64 { return 1 }),
	)
	return reg
}

// LatencyBuckets suit operations measured in milliseconds (HTTP acks, propagation).
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
