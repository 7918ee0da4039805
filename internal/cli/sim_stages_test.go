package cli_test

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pipelineStages are the hub's latency histograms along a webhook's way to a dispatcher, in
// that order. Each measures from the webhook's arrival (or the event's occurred_at) to the
// end of its stage, so that a stage's share is its quantile less the one before it.
var pipelineStages = []struct{ metric, name string }{
	{"dispatchhub_ingest_ack_seconds", "webhook acknowledged"},
	{"dispatchhub_ingest_commit_seconds", "group commit (one transaction)"},
	{"dispatchhub_ingest_relay_lag_seconds", "arrival → on INGEST"},
	{"dispatchhub_intake_apply_seconds", "intake apply (one message)"},
	{"dispatchhub_intake_lag_seconds", "arrival → order committed"},
	{"dispatchhub_outbox_lag_seconds", "event → on EVENTS"},
	{"dispatchhub_bridge_lag_seconds", "event → MQTT publish"},
}

// stageReport scrapes the hub's /metrics and describes its pipeline histograms: count, and
// p50 and p99 estimated within the buckets as Prometheus' histogram_quantile does.
func stageReport(b *testing.B, hubFlags []string) string {
	var port string
	for _, f := range hubFlags {
		if v, ok := strings.CutPrefix(f, "--http.port="); ok {
			port = v
		}
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/metrics")
	if err != nil {
		return "metrics: " + err.Error()
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return "metrics: " + err.Error()
	}
	var sb strings.Builder
	for _, st := range pipelineStages {
		h := mergedHistogram(mfs[st.metric])
		if h == nil {
			fmt.Fprintf(&sb, "  %-32s (no %s)\n", st.name, st.metric)
			continue
		}
		fmt.Fprintf(&sb, "  %-32s n=%-7d p50 %7.1f ms  p99 %7.1f ms  mean %7.1f ms\n", st.name, h.GetSampleCount(),
			1000*bucketQuantile(0.5, h), 1000*bucketQuantile(0.99, h), 1000*h.GetSampleSum()/math.Max(1, float64(h.GetSampleCount())))
	}
	return sb.String()
}

// mergedHistogram adds up the series of a histogram family (all label values).
func mergedHistogram(mf *dto.MetricFamily) *dto.Histogram {
	if mf == nil || len(mf.GetMetric()) == 0 {
		return nil
	}
	var count uint64
	var sum float64
	cum := map[float64]uint64{}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			return nil
		}
		count += h.GetSampleCount()
		sum += h.GetSampleSum()
		for _, bk := range h.GetBucket() {
			cum[bk.GetUpperBound()] += bk.GetCumulativeCount()
		}
	}
	bounds := make([]float64, 0, len(cum))
	for ub := range cum {
		bounds = append(bounds, ub)
	}
	sort.Float64s(bounds)
	out := &dto.Histogram{SampleCount: &count, SampleSum: &sum}
	for _, ub := range bounds {
		out.Bucket = append(out.Bucket, &dto.Bucket{UpperBound: &ub, CumulativeCount: func(v uint64) *uint64 { return &v }(cum[ub])})
	}
	return out
}

// bucketQuantile estimates quantile q of h by linear interpolation inside its bucket; above
// the last finite bound it answers that bound.
func bucketQuantile(q float64, h *dto.Histogram) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	rank, lower, below := q*total, 0.0, 0.0
	for _, bk := range h.GetBucket() {
		n := float64(bk.GetCumulativeCount())
		if n >= rank {
			if math.IsInf(bk.GetUpperBound(), 1) {
				return lower
			}
			if n == below {
				return bk.GetUpperBound()
			}
			return lower + (bk.GetUpperBound()-lower)*(rank-below)/(n-below)
		}
		lower, below = bk.GetUpperBound(), n
	}
	return lower
}
