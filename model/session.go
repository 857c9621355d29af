package model

import (
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
