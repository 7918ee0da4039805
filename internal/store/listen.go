package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen delivers the payload of every NOTIFY on channel to fn until ctx ends. It holds one
// pooled connection, re-acquires it after a failure (waiting up to 5 s between attempts) and
// calls onListen each time LISTEN is in place, the first time included: notifications sent
// before that are lost, so the caller resynchronises there (e.g. drops its cache).
func (db *DB) Listen(ctx context.Context, channel string, fn func(payload string), onListen func()) error {
	wait := 100 * time.Millisecond
	for {
		err := db.listenOnce(ctx, channel, fn, func() {
			wait = 100 * time.Millisecond
			if onListen != nil {
				onListen()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the connection failed; try again
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, fn func(string), listening func()) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		_ = conn.Conn().Close(context.Background()) // a failed LISTEN leaves the connection in doubt
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	listening()
	defer func() {
		// Leave the pooled connection clean; if that fails, drop it.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := conn.Exec(cctx, "UNLISTEN *"); err != nil {
			_ = conn.Conn().Close(cctx)
		}
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
