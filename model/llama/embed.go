package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
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

// BuildEmbedding implements model.TextEmbedder: the final hidden states
// (BuildHidden) of every token.
func (m *Model) BuildEmbedding(b *compute.Builder) compute.Tensor { return m.BuildHidden(b) }

// EmbedTexts implements model.TextEmbedder: each text, tokenized with
// its begin token, is pooled from its final hidden states as the file's
// pooling type says (mean when it names none).
func (m *Model) EmbedTexts(enc model.Encoder, tok model.Tokenizer, texts []string, opts model.EmbedOptions) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no texts", ErrEmbed)
	}
	out := make([][]float32, len(texts))
	for i, text := range texts {
		ids, err := tok.Encode(text, true, opts.ParseSpecial)
		if err != nil {
			return nil, fmt.Errorf("llama: text %d: tokenize: %w", i, err)
		}
		if n := min(enc.MaxTokens(), m.Config.ContextLength); len(ids) > n {
			if !opts.Truncate {
				return nil, fmt.Errorf("text %d has %d tokens, the context holds %d: %w", i, len(ids), n, model.ErrTooLong)
			}
			ids = ids[:n]
		}
		if out[i], err = Embed(enc, ids, m.Config.Pooling, opts.Dimensions); err != nil {
			return nil, fmt.Errorf("llama: text %d: %w", i, err)
		}
	}
	return out, nil
}

// Embed pools the final hidden states of tokens, which enc gives for one
// sequence from position 0, as p says (PoolingNone means mean), and
// returns the vector L2-normalised. dims, when > 0, keeps only the first
// dims components (normalised after the cut).
func Embed(enc model.Encoder, tokens []int32, p Pooling, dims int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrEmbed)
	}
	if len(tokens) > enc.MaxTokens() {
		return nil, fmt.Errorf("%w: %d tokens do not fit a pass of %d: %w", ErrEmbed, len(tokens), enc.MaxTokens(), model.ErrContextFull)
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
		return nil, fmt.Errorf("%w: %w: dimensions %d outside 1..%d (or 0 for all)", ErrEmbed, model.ErrOption, dims, len(sum))
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
