package ingest_test

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The load generator is open-loop: request i is due at start + i/rate whatever happened to the
// earlier ones, and its latency is measured from that due time (no coordinated omission: a
// stalled server or a late generator shows up in the latency, never as a lower offered rate).
// It runs in the benchmark's process, one goroutine per request, on a fasthttp client.

const benchRequestTimeout = 5 * time.Second

// benchResult is the outcome of one request.
type benchResult struct {
	latency  time.Duration // from the scheduled send time to the full response
	status   int           // 0: transport error or timeout
	accepted bool          // 200 {"status":"accepted"}
	id       string        // the stored event's id when accepted
	detail   string        // the transport error, or the body of a non-200 answer
}

// benchStep is what one fixed-rate run measured.
type benchStep struct {
	rate         int
	offered      int // requests scheduled
	elapsed      time.Duration
	p50, p95     time.Duration
	p99, max     time.Duration
	ok200        int
	accepted     int
	errors       int // transport errors and timeouts
	non200       int
	statusCounts map[int]int
	lateStart    time.Duration  // how late the generator sent the last request (its own lag)
	failures     map[string]int // distinct failure details (errors and non-200 answers), counted
	results      []benchResult
	cpu          benchCPU
}

func (s *benchStep) achieved() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.offered-s.errors) / s.elapsed.Seconds()
}

func (s *benchStep) String() string {
	return fmt.Sprintf("rate=%d achieved=%.0f p50=%s p95=%s p99=%s max=%s errors=%d non200=%d",
		s.rate, s.achieved(), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), s.errors, s.non200)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func newBenchClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr: addr,
		// Its own dialer: fasthttp's default one keeps a goroutine for the life of the process.
		Dial:                          func(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, benchRequestTimeout) },
		Name:                          "dispatchhub-bench",
		MaxConns:                      2048,
		MaxIdleConnDuration:           time.Second, // its cleaner goroutine sleeps this long before it can exit
		ReadTimeout:                   benchRequestTimeout,
		WriteTimeout:                  benchRequestTimeout,
		MaxConnWaitTimeout:            benchRequestTimeout,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		ReadBufferSize:                8 << 10,
		WriteBufferSize:               8 << 10,
	}
}

var (
	benchAccepted = []byte(`"status":"accepted"`)
	benchIDKey    = []byte(`"id":"`)
)

// runOpenLoop sends reqs at rate per second to rewrite(req.path) and measures each; it calls
// sample to read the CPU counters before and after.
func runOpenLoop(hc *fasthttp.HostClient, reqs []benchReq, rate int, rewrite func(string) string, sample func() benchCPU) *benchStep {
	n := len(reqs)
	st := &benchStep{rate: rate, offered: n, results: make([]benchResult, n), statusCounts: map[int]int{}, failures: map[string]int{}}
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	wg.Add(n)
	cpu0 := sample()
	start := time.Now().Add(5 * time.Millisecond)
	for i := range reqs {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if i == n-1 {
			st.lateStart = time.Since(due)
		}
		go func() {
			defer wg.Done()
			st.results[i] = sendOne(hc, &reqs[i], rewrite, due)
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	st.cpu = sample().since(cpu0)

	lat := make([]time.Duration, 0, n)
	for _, r := range st.results {
		switch {
		case r.status == 0:
			st.errors++
			st.failures[r.detail]++
		case r.status != 200:
			st.non200++
			st.statusCounts[r.status]++
			st.failures[fmt.Sprint(r.status, " ", r.detail)]++
		default:
			st.ok200++
			st.statusCounts[200]++
			if r.accepted {
				st.accepted++
			}
		}
		lat = append(lat, r.latency)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		i := int(float64(len(lat))*p+0.5) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	st.p50, st.p95, st.p99 = pct(0.50), pct(0.95), pct(0.99)
	if len(lat) > 0 {
		st.max = lat[len(lat)-1]
	}
	return st
}

func sendOne(hc *fasthttp.HostClient, r *benchReq, rewrite func(string) string, due time.Time) benchResult {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(rewrite(r.path))
	req.Header.SetHost(hc.Addr)
	for _, h := range r.header {
		req.Header.Set(h[0], h[1])
	}
	req.SetBodyRaw(r.body)
	err := hc.DoDeadline(req, resp, due.Add(benchRequestTimeout))
	res := benchResult{latency: time.Since(due)}
	if err != nil {
		res.detail = err.Error()
		return res // status 0: a transport error or the deadline passed
	}
	res.status = resp.StatusCode()
	if res.status != 200 {
		res.detail = string(resp.Body())
	}
	if res.status == 200 {
		body := resp.Body()
		if bytes.Contains(body, benchAccepted) {
			res.accepted = true
			if i := bytes.Index(body, benchIDKey); i >= 0 && len(body) >= i+len(benchIDKey)+36 {
				res.id = string(body[i+len(benchIDKey) : i+len(benchIDKey)+36])
			}
		}
	}
	return res
}
