package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Pull hands cons's messages to deliver, pulling up to batch at a time, until ctx ends. A
// failed pull is retried after a second. deliver returns false when it could not take the
// message because ctx ended; that message, and every one pulled after ctx ended, is given back
// (Nak) for the next consumer instead of waiting out its ack wait. On shutdown the iterator
// drains: what was pulled already is handed over or given back. what names the consumer in
// log lines.
func Pull(ctx context.Context, cons jetstream.Consumer, batch int, log zerolog.Logger, what string, deliver func(jetstream.Msg) bool) {
	for ctx.Err() == nil {
		it, err := cons.Messages(jetstream.PullMaxMessages(batch), jetstream.PullExpiry(5*time.Second))
		if err != nil {
			log.Warn().Err(err).Msg(what + ": cannot consume; retrying")
			wait(ctx, time.Second)
			continue
		}
		stop := context.AfterFunc(ctx, it.Drain)
		for {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					log.Warn().Err(err).Msg(what + ": consuming failed; resuming")
					wait(ctx, time.Second)
				}
				break
			}
			if ctx.Err() != nil || !deliver(msg) {
				_ = msg.Nak()
			}
		}
		stop()
		it.Stop()
	}
}

// Hand returns a deliver function for Pull that sends each message on ch, or gives up when
// ctx ends.
func Hand(ctx context.Context, ch func(jetstream.Msg) chan<- jetstream.Msg) func(jetstream.Msg) bool {
	return func(msg jetstream.Msg) bool {
		select {
		case ch(msg) <- msg:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
