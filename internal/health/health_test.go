package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	r := NewRegistry()
	release := make(chan struct{})
	defer close(release)
	r.Set("postgres", func(context.Context) error { return errors.New("connection refused") })
	r.Set("redis", func(context.Context) error { return nil })
	r.Set("nats", func(context.Context) error { <-release; return nil }) // ignores its context
	r.Set("mqtt", func(context.Context) error { panic("bug") })

	rep := r.Run(context.Background(), 50*time.Millisecond)
	assert.False(t, rep.Ready)
	assert.Equal(t, "not ready", rep.Status)
	assert.Equal(t, []string{"mqtt", "nats", "postgres"}, rep.Failing)
	assert.Equal(t, "connection refused", rep.Checks["postgres"])
	assert.Equal(t, "timed out", rep.Checks["nats"])
	assert.Equal(t, "ok", rep.Checks["redis"])

	r.Set("postgres", func(context.Context) error { return nil })
	r.Set("nats", func(context.Context) error { return nil })
	r.Set("mqtt", func(context.Context) error { return nil })
	rep = r.Run(context.Background(), time.Second)
	assert.True(t, rep.Ready)
	assert.Empty(t, rep.Failing)
}
