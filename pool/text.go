package pool

import (
	"context"

	"github.com/vkinfer/vkinfer/engine"
)

// Generator is a loaded text-to-text model instance; *engine.Engine is one.
type Generator interface {
	Generate(ctx context.Context, req engine.Request, emit func(engine.Chunk) error) (engine.Result, error)
	Close() error
}

// TextToText is the pool of the text-to-text capability.
type TextToText struct {
	*Pool[Generator]
}

// NewTextToText returns a text-to-text pool; cfg.Capability defaults to
// "text-to-text".
func NewTextToText(loader Loader[Generator], cfg Config) *TextToText {
	if cfg.Capability == "" {
		cfg.Capability = "text-to-text"
	}
	return &TextToText{New(loader, cfg)}
}

// Generate runs req on model name, calling emit with each chunk from the
// worker's goroutine; emit may block (backpressure) and its error stops
// generation. The Result's LoadDuration is set when the request waited for
// the model to load. The error is the engine's or the pool's (ErrBusy,
// ErrNoMemory, ErrBackoff, ErrTimeout, ErrClosed, ErrPanic, a load error).
func (t *TextToText) Generate(ctx context.Context, name string, req engine.Request, emit func(engine.Chunk) error) (engine.Result, error) {
	var res engine.Result
	load, err := t.do(ctx, name, func(ctx context.Context, g Generator) error {
		var err error
		res, err = g.Generate(ctx, req, emit)
		return err
	})
	res.LoadDuration = load
	return res, err
}

// Event is one item of a Stream: a chunk, or the final result or error.
type Event struct {
	Chunk  engine.Chunk
	Done   bool          // the final event: Result or Err is set
	Result engine.Result // when Done
	Err    error         // when Done and the request failed
}

// Stream runs Generate and delivers its chunks and then one final event
// (Done set) on the returned channel, which is then closed. The consumer
// must read until the channel closes or cancel ctx; after a cancel the
// final event may be dropped if nobody reads it.
func (t *TextToText) Stream(ctx context.Context, name string, req engine.Request) <-chan Event {
	ch := make(chan Event)
	go func() {
		defer close(ch)
		res, err := t.Generate(ctx, name, req, func(c engine.Chunk) error {
			select {
			case ch <- Event{Chunk: c}:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		select {
		case ch <- Event{Done: true, Result: res, Err: err}:
		case <-ctx.Done():
		}
	}()
	return ch
}
