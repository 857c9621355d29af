package model

import (
	"errors"
	"fmt"
	"math"
)

// Pooling reduces a sequence's final hidden states to one vector; the
// values are those of GGUF's {arch}.pooling_type.
type Pooling int

// Pooling types.
const (
	PoolingNone  Pooling = 0 // no pooled vector; Pool uses mean
	PoolingMean  Pooling = 1
	PoolingFirst Pooling = 2 // "cls": the first token's state
	PoolingLast  Pooling = 3
)

// ErrEmbed is wrapped by Pool's errors about its input.
var ErrEmbed = errors.New("model: cannot embed")

// Pool embeds tokens as one sequence from position 0 with enc and pools
// the rows it gives (final hidden states) as p says (PoolingNone means
// mean), returning the vector L2-normalised. dims, when > 0, keeps only
// the first dims components (normalised after the cut).
func Pool(enc Encoder, tokens []int32, p Pooling, dims int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrEmbed)
	}
	if len(tokens) > enc.MaxTokens() {
		return nil, fmt.Errorf("%w: %d tokens do not fit a pass of %d: %w", ErrEmbed, len(tokens), enc.MaxTokens(), ErrContextFull)
	}
	rows, _, err := enc.Forward([][]int32{tokens})
	if err != nil {
		return nil, err
	}
	width := len(rows) / len(tokens)
	sum := make([]float32, width)
	for i := range tokens {
		row := rows[i*width : (i+1)*width]
		switch {
		case p == PoolingFirst && i == 0, p == PoolingLast && i == len(tokens)-1:
			copy(sum, row)
		case p == PoolingMean || p == PoolingNone:
			for j, v := range row {
				sum[j] += v
			}
		}
	}
	if dims < 0 || dims > len(sum) {
		return nil, fmt.Errorf("%w: %w: dimensions %d outside 1..%d (or 0 for all)", ErrEmbed, ErrOption, dims, len(sum))
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
