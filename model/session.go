package model

import (
	"context"
	"errors"

	"github.com/vkinfer/vkinfer/sampling"
)

// ErrContextFull is returned by Eval when positions would run past the
// session's context size.
var ErrContextFull = errors.New("model: context full")

// Session is one sequence being generated on one backend. Weights are
// shared between sessions of a model; the KV cache belongs to the session.
// A Session is not safe for concurrent use.
type Session interface {
	// Eval runs tokens at positions pos, pos+1, ... through the model and
	// stores their keys and values; cache entries at positions >= pos are
	// replaced, so a caller rewinds by evaluating at an earlier pos. A
	// backend may defer the work until Logits or Sample is called.
	Eval(tokens []int32, pos int) error
	// Logits returns the logits of the last token evaluated. The slice
	// belongs to the session and is valid until the next Eval.
	Logits() ([]float32, error)
	// Sample draws the next token from the last token's logits with s,
	// which records the drawn token in its history.
	Sample(s *sampling.Sampler) (int32, error)
	// ContextSize is the number of positions the KV cache holds.
	ContextSize() int
	// Close frees the session's cache and scratch memory.
	Close() error
}

// Sequence is a Session that runs beside other requests' sequences
// (continuous batching): its KV cache comes a page at a time from a pool
// shared with them, so each request is bracketed by Begin and End.
type Sequence interface {
	Session
	// Begin starts a request for prompt. It maps cached pages that hold
	// a prefix of the prompt (from any earlier request) and returns how
	// many positions they hold; the caller evaluates the rest. The
	// request may use positions positions (0: the session's whole
	// context), and ctx's cancellation fails its pending work and frees
	// its pages at once.
	Begin(ctx context.Context, prompt []int32, positions int) (reused int)
	// End frees the request's pages for other sequences.
	End()
}
