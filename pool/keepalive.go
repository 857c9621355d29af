package pool

import (
	"context"
	"time"
)

type keepAliveKey struct{}

// WithKeepAlive returns ctx asking that the model of the request made
// with it stay loaded d after the request (0: unload it as soon as it is
// idle; negative: keep it), instead of Config.KeepAlive: Ollama's
// per-request keep_alive. The latest request to a model sets its
// keep-alive; one without it restores the pool's.
func WithKeepAlive(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, keepAliveKey{}, d)
}

// keepAliveOf returns the keep-alive ctx asks for, if any.
func keepAliveOf(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(keepAliveKey{}).(time.Duration)
	return d, ok
}
