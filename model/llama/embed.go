package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/model"
)

// Pooling reduces a sequence's final hidden states to one vector; the
// values are those of GGUF's {arch}.pooling_type.
type Pooling int

// Pooling types.
const (
	PoolingNone  Pooling = 0 // no pooled vector; Embed uses mean
	PoolingMean  Pooling = 1
	PoolingFirst Pooling = 2 // "cls": the first token's state
	PoolingLast  Pooling = 3
)

// ErrEmbed is wrapped by Embed's errors about its input.
var ErrEmbed = errors.New("llama: cannot embed")

// HiddenEvaluator is a session that gives the final hidden states (after
// the output norm) of a sequence evaluated from position 0.
type HiddenEvaluator interface {
	model.Session
	// EvalHidden evaluates tokens at positions 0.. and calls each with
	// every token's final hidden state in order; row is reused.
	EvalHidden(tokens []int32, each func(row []float32)) error
}

// Embed pools the final hidden states of tokens, evaluated from position
// 0 on s, as p says (PoolingNone means mean), and returns the vector
// L2-normalised. dims, when > 0, keeps only the first dims components
// (normalised after the cut).
func Embed(s HiddenEvaluator, tokens []int32, p Pooling, dims int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrEmbed)
	}
	if len(tokens) > s.ContextSize() {
		return nil, fmt.Errorf("%w: %d tokens do not fit a context of %d: %w", ErrEmbed, len(tokens), s.ContextSize(), model.ErrContextFull)
	}
	var sum []float32
	i := 0
	err := s.EvalHidden(tokens, func(row []float32) {
		if sum == nil {
			sum = make([]float32, len(row))
		}
		switch {
		case p == PoolingFirst && i == 0, p == PoolingLast && i == len(tokens)-1:
			copy(sum, row)
		case p == PoolingMean || p == PoolingNone:
			for j, v := range row {
				sum[j] += v
			}
		}
		i++
	})
	if err != nil {
		return nil, err
	}
	if dims < 0 || dims > len(sum) {
		return nil, fmt.Errorf("%w: dimensions %d outside 1..%d (or 0 for all)", ErrEmbed, dims, len(sum))
	}
	if dims > 0 {
		sum = sum[:dims]
	}
	var sq float64
	for _, v := range sum {
		sq += float64(v) * float64(v)
	}
	if sq > 0 {
		inv := float32(1 / math.Sqrt(sq))
		for j := range sum {
			sum[j] *= inv
		}
	}
	return sum, nil
}

// EvalHidden implements HiddenEvaluator.
func (s *RefSession) EvalHidden(tokens []int32, each func(row []float32)) error {
	if err := s.Eval(tokens, 0); err != nil {
		return err
	}
	c := s.m.Config
	w, err := s.vec(&s.m.OutputNorm)
	if err != nil {
		return err
	}
	row := make([]float32, c.Dim)
	for b := range tokens {
		kernels.RMSNorm(row, s.acts.x[b], w, c.NormEps, s.portable())
		each(row)
	}
	return nil
}
