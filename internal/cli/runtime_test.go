package cli

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"

	"github.com/pilotx/dispatchhub/internal/config"
)

func TestTuneRuntime(t *testing.T) {
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	})

	t.Run("configuration applies", func(t *testing.T) {
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimit: 512 * config.MiB}, zerolog.Nop())
		assert.Equal(t, 250, debug.SetGCPercent(100))
		assert.Equal(t, int64(512<<20), debug.SetMemoryLimit(math.MaxInt64))
	})
	t.Run("no memory limit by default", func(t *testing.T) {
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		debug.SetMemoryLimit(1 << 30)
		tuneRuntime(config.Default().Runtime, zerolog.Nop())
		assert.Equal(t, 400, debug.SetGCPercent(100))
		assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(math.MaxInt64))
	})
	t.Run("environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		t.Setenv("GOMEMLIMIT", "1GiB")
		tuneRuntime(config.Runtime{GCPercent: 250, MemoryLimit: 512 * config.MiB}, zerolog.Nop())
		assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC is the runtime's to apply")
		assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(math.MaxInt64))
	})
}
