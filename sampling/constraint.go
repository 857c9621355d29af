package sampling

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoToken is wrapped when a draw's constraint allows no token, or
// rejects the token drawn.
var ErrNoToken = errors.New("sampling: the constraint allows no token")

// Constraint restricts which tokens may be drawn: a grammar the output
// must follow (package grammar implements it). The sampler masks the
// logits with it before the rest of the chain and tells it each token
// drawn.
type Constraint interface {
	// Allowed returns the tokens that may come next as a bitset: token
	// id is bit id%64 of word id/64; ids past the set are not allowed.
	// The set is the constraint's, valid until Accept.
	Allowed() []uint64
	// Accept advances past the drawn token.
	Accept(id int32) error
	// Done reports whether nothing may follow but an end of generation.
	Done() bool
}

// Constrain makes every later draw follow c (nil removes it).
func (s *Sampler) Constrain(c Constraint) { s.constraint = c }

// Constrained reports whether draws follow a constraint.
func (s *Sampler) Constrained() bool { return s.constraint != nil }

// Done reports whether the sampler's constraint is complete: the only
// token it still allows ends generation, so a caller may stop without
// another step.
func (s *Sampler) Done() bool { return s.constraint != nil && s.constraint.Done() }

// NeedsLogits reports whether draws need the logits on the host: logprobs
// are computed from them, which a device sampler does not do. (A device
// sampler applies a constraint's mask itself, see Mask.)
func (s *Sampler) NeedsLogits() bool { return s.logprobs >= 0 }

// Mask returns the constraint's bitset of the tokens the next draw may
// pick (see Constraint.Allowed), or nil without a constraint. A device
// sampler applies it after the penalties, as the chain does, and reports
// its draw with Drawn.
func (s *Sampler) Mask() []uint64 {
	if s.constraint == nil {
		return nil
	}
	return s.constraint.Allowed()
}

// Drawn records a draw made elsewhere (a device sampler) with the
// sampler's parameters: id, and whether it used the next uniform number.
// It advances the random sequence, the constraint and the history as
// Sample would.
func (s *Sampler) Drawn(id int32, usedUniform bool) error {
	if usedUniform {
		s.NextUniform()
	}
	if s.constraint != nil {
		if err := s.constraint.Accept(id); err != nil {
			return fmt.Errorf("%w: %w", ErrNoToken, err)
		}
	}
	s.Accept(id)
	return nil
}

// applyMask sets the logits of tokens outside set to -Inf and reports
// whether any token is left.
func applyMask(l []float32, set []uint64) bool {
	inf := float32(math.Inf(-1))
	any := false
	for i := range l {
		if w := i / 64; w < len(set) && set[w]&(1<<(i%64)) != 0 {
			any = true
		} else {
			l[i] = inf
		}
	}
	return any
}

// Err returns why the last Sample returned -1.
func (s *Sampler) Err() error { return s.err }
