package cli

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/config"
)

// tuneRuntime applies the runtime section to this process. A hub holding thousands of MQTT
// connections keeps a small live heap but turns over a lot of short-lived packets; Go's
// default GOGC of 100 then collects several times a second and every collection scans every
// connection's goroutine stacks, which shows up as delivery latency. A higher GOGC trades
// memory for fewer collections; memory_limit puts a ceiling on that trade. GOGC and
// GOMEMLIMIT in the environment, read by the runtime itself, win over the configuration.
func tuneRuntime(rt config.Runtime, log zerolog.Logger) {
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(rt.GCPercent)
		gogc = strconv.Itoa(rt.GCPercent)
	}
	limit := os.Getenv("GOMEMLIMIT")
	if limit == "" {
		l := int64(math.MaxInt64)
		if rt.MemoryLimit > 0 {
			l = int64(rt.MemoryLimit)
		}
		debug.SetMemoryLimit(l)
		limit = rt.MemoryLimit.String()
	}
	log.Info().Str("gc_percent", gogc).Str("memory_limit", limit).Msg("go runtime tuned")
}
