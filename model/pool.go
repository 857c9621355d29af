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

// TextPass says how EmbedEach runs a model's texts: Arch names the model
// in errors, Context bounds a text's tokens beside the encoder's pass, and
// Pooling is the file's pooling type.
type TextPass struct {
	Arch    string
	Context int
	Pooling Pooling
}

// EmbedEach is EmbedTexts for a model that embeds one text a pass: each
// text is tokenized with its special tokens, pooled by Pool (L2-normalised,
// cut to opts.Dimensions), and counted as the tokens it ran as. A text
// longer than a pass or the context fails with ErrTooLong unless
// opts.Truncate cuts it.
func EmbedEach(enc Encoder, tok Tokenizer, texts []string, opts EmbedOptions, pass TextPass) (Embeddings, error) {
	if len(texts) == 0 {
		return Embeddings{}, fmt.Errorf("%s: %w: no texts", pass.Arch, ErrEmbed)
	}
	out := Embeddings{Vectors: make([][]float32, len(texts)), Tokens: make([]int, len(texts))}
	for i, text := range texts {
		ids, err := tok.Encode(text, true, opts.ParseSpecial)
		if err != nil {
			return Embeddings{}, fmt.Errorf("%s: text %d: tokenize: %w", pass.Arch, i, err)
		}
		if n := min(enc.MaxTokens(), pass.Context); len(ids) > n {
			if !opts.Truncate {
				return Embeddings{}, fmt.Errorf("%s: text %d has %d tokens, a pass holds %d: %w", pass.Arch, i, len(ids), n, ErrTooLong)
			}
			ids = ids[:n]
		}
		out.Tokens[i] = len(ids)
		if out.Vectors[i], err = Pool(enc, ids, pass.Pooling, opts.Dimensions); err != nil {
			return Embeddings{}, fmt.Errorf("%s: text %d: %w", pass.Arch, i, err)
		}
	}
	return out, nil
}
