package app

import (
	"context"
	"sync"
)

// workers owns the hub's background loops: each runs until stop cancels their context, and
// stop waits for all of them.
type workers struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs fn in its own goroutine; onErr receives its error, if any.
func (w *workers) start(fn func(context.Context) error, onErr func(error)) {
	w.mu.Lock()
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithCancel(context.Background())
	}
	ctx := w.ctx
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		if err := fn(ctx); err != nil && onErr != nil {
			onErr(err)
		}
	}()
}

// stop cancels every worker and waits for them.
func (w *workers) stop() {
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
