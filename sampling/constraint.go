package sampling

import "errors"

// ErrNoToken is wrapped when a draw's constraint allows no token, or
// rejects the token drawn.
var ErrNoToken = errors.New("sampling: the constraint allows no token")

// Constraint restricts which tokens may be drawn: a grammar the output
// must follow (package grammar implements it). The sampler masks the
// logits with it before the rest of the chain and tells it each token
// drawn.
type Constraint interface {
	// Mask sets the logits of tokens that may not come next to -Inf,
	// in place, and reports whether any token may.
	Mask(logits []float32) bool
	// Accept advances past the drawn token.
	Accept(id int32) error
	// Done reports whether nothing may follow but an end of generation.
	Done() bool
}

// Constrain makes every later draw follow c (nil removes it).
func (s *Sampler) Constrain(c Constraint) { s.constraint = c }

// Done reports whether the sampler's constraint is complete: the only
// token it still allows ends generation, so a caller may stop without
// another step.
func (s *Sampler) Done() bool { return s.constraint != nil && s.constraint.Done() }

// NeedsLogits reports whether draws need the logits on the host: a
// constraint masks them, and logprobs are computed from them, neither of
// which a device sampler does.
func (s *Sampler) NeedsLogits() bool { return s.constraint != nil || s.logprobs >= 0 }

// Err returns why the last Sample returned -1.
func (s *Sampler) Err() error { return s.err }
