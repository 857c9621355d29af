package pool

import (
	"context"
	"fmt"
	"slices"
)

// Load makes sure model name has a loaded worker, loading one if needed,
// and returns the load error if that fails. The model then stays loaded
// for the keep-alive like after any request.
func (p *Pool[I]) Load(ctx context.Context, name string) error {
	return p.Do(ctx, name, func(context.Context, I) error { return nil })
}

// Unload stops the workers of model name: they finish the requests
// already queued, then close their instances. New requests start a new
// worker. Unload waits for the workers to exit or ctx to end.
func (p *Pool[I]) Unload(ctx context.Context, name string) error {
	p.mu.Lock()
	m := p.models[name]
	if m == nil || len(m.workers) == 0 {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotLoaded, name)
	}
	ws := slices.Clone(m.workers)
	p.stopModel(m)
	p.mu.Unlock()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("pool: unload %s: %w", name, ctx.Err())
		}
	}
	return nil
}

// Shutdown refuses new requests, lets the queued and running ones finish,
// then stops all workers and closes their instances. If ctx ends first,
// running requests are cancelled (they end with ErrClosed) and Shutdown
// returns ctx's error without waiting further.
func (p *Pool[I]) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	for _, m := range p.models {
		if m.stopIdle != nil {
			m.stopIdle()
			m.stopIdle = nil
		}
		p.stopModel(m)
	}
	var wait []chan struct{}
	for w := range p.stopping {
		wait = append(wait, w.done)
	}
	p.mu.Unlock()
	for _, c := range wait {
		select {
		case <-c:
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("pool: shutdown: %w", ctx.Err())
		}
	}
	p.kill()
	return nil
}
