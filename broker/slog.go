package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// slogHandler forwards mochi's slog records to zerolog. mochi logs routine events at Info,
// so levels move one step down: Debug → trace, Info → debug; Warn and Error stay.
// Packets and wills are reduced to their type, id and topic: their payloads (and a
// CONNECT's password) never reach the log.
type slogHandler struct {
	log    zerolog.Logger
	prefix string // open groups, "a.b."
}

var _ slog.Handler = (*slogHandler)(nil)

// quietWarnings are mochi warnings about conditions that are expected here or already
// counted by a metric; they are logged at debug.
var quietWarnings = map[string]bool{
	mqtt.ErrMinimumKeepalive.Error(): true, // keepalive 0 is clamped by the limits hook
	"client store quota reached":     true, // dispatchhub_mqtt_messages_dropped_total{reason="inflight_quota"}
	"packet ids exhausted":           true, // same counter
}

func newSlogHandler(log zerolog.Logger) *slogHandler { return &slogHandler{log: log} }

func zerologLevel(l slog.Level) zerolog.Level {
	switch {
	case l < slog.LevelInfo:
		return zerolog.TraceLevel
	case l < slog.LevelWarn:
		return zerolog.DebugLevel
	case l < slog.LevelError:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	zl := zerologLevel(l)
	return zl >= h.log.GetLevel() && zl >= zerolog.GlobalLevel()
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	zl := zerologLevel(r.Level)
	if zl == zerolog.WarnLevel && quietWarnings[r.Message] {
		zl = zerolog.DebugLevel
	}
	ev := h.log.WithLevel(zl)
	if ev == nil {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		ev = appendAttr(ev, h.prefix, a)
		return true
	})
	ev.Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	ctx := h.log.With()
	for _, a := range attrs {
		ctx = appendAttr(ctx, h.prefix, a)
	}
	return &slogHandler{log: ctx.Logger(), prefix: h.prefix}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &slogHandler{log: h.log, prefix: h.prefix + name + "."}
}

// fields is what *zerolog.Event and zerolog.Context have in common.
type fields[T any] interface {
	Str(key, val string) T
	Int64(key string, i int64) T
	Uint64(key string, i uint64) T
	Float64(key string, f float64) T
	Bool(key string, b bool) T
	Dur(key string, d time.Duration) T
	Time(key string, t time.Time) T
	AnErr(key string, err error) T
	Interface(key string, i any) T
}

func appendAttr[T fields[T]](f T, prefix string, a slog.Attr) T {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return f
	}
	key := prefix + a.Key
	v := a.Value
	switch v.Kind() {
	case slog.KindGroup:
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, ga := range v.Group() {
			f = appendAttr(f, p, ga)
		}
		return f
	case slog.KindString:
		return f.Str(key, v.String())
	case slog.KindInt64:
		return f.Int64(key, v.Int64())
	case slog.KindUint64:
		return f.Uint64(key, v.Uint64())
	case slog.KindFloat64:
		return f.Float64(key, v.Float64())
	case slog.KindBool:
		return f.Bool(key, v.Bool())
	case slog.KindDuration:
		return f.Dur(key, v.Duration())
	case slog.KindTime:
		return f.Time(key, v.Time())
	}
	switch x := v.Any().(type) {
	case nil:
		return f
	case error:
		return f.AnErr(key, x)
	case packets.Packet:
		return f.Str(key, describePacket(&x))
	case *packets.Packet:
		return f.Str(key, describePacket(x))
	case mqtt.Will:
		return f.Str(key, "will topic="+x.TopicName)
	case fmt.Stringer:
		return f.Str(key, x.String())
	default:
		return f.Interface(key, x)
	}
}

// describePacket names a packet without its payload or credentials.
func describePacket(pk *packets.Packet) string {
	if pk == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%s id=%d", packets.PacketNames[pk.FixedHeader.Type], pk.PacketID)
	if pk.FixedHeader.Type == packets.Publish {
		s += fmt.Sprintf(" qos=%d topic=%s bytes=%d", pk.FixedHeader.Qos, pk.TopicName, len(pk.Payload))
	}
	return s
}
