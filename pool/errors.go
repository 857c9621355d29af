package pool

import "errors"

// Sentinel errors callers branch on; returned errors wrap them with detail.
var (
	// ErrClosed: the pool is shut down or shutting down.
	ErrClosed = errors.New("pool: shut down")
	// ErrBusy: the model's request queue is full.
	ErrBusy = errors.New("pool: model busy, queue full")
	// ErrNoMemory: the model does not fit in the memory budget even after
	// evicting idle models.
	ErrNoMemory = errors.New("pool: not enough memory")
	// ErrBackoff: the model failed repeatedly and is held off for a while.
	ErrBackoff = errors.New("pool: model held off after repeated failures")
	// ErrTimeout: the request did not finish within the request timeout.
	ErrTimeout = errors.New("pool: request timed out")
	// ErrPanic: the model code panicked while serving the request.
	ErrPanic = errors.New("pool: worker panicked")
	// ErrNotLoaded: Unload named a model that is not loaded.
	ErrNotLoaded = errors.New("pool: model not loaded")
	// ErrInvalid: the request is malformed.
	ErrInvalid = errors.New("pool: invalid request")
)
