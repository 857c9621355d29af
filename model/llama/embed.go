package llama

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/model"
)

// Pooling is model.Pooling; the constants are its values.
type Pooling = model.Pooling

// Pooling types.
const (
	PoolingNone  = model.PoolingNone
	PoolingMean  = model.PoolingMean
	PoolingFirst = model.PoolingFirst
	PoolingLast  = model.PoolingLast
)

// ErrEmbed is model.ErrEmbed.
var ErrEmbed = model.ErrEmbed

// BuildEmbedding implements model.TextEmbedder: the final hidden states
// (BuildHidden) of every token.
func (m *Model) BuildEmbedding(b *compute.Builder) compute.Tensor { return m.BuildHidden(b) }

// EmbedTexts implements model.TextEmbedder: each text, tokenized with
// its begin token, is pooled from its final hidden states as the file's
// pooling type says (mean when it names none), and counted as the tokens
// it ran as, begin token included, after truncation.
func (m *Model) EmbedTexts(enc model.Encoder, tok model.Tokenizer, texts []string, opts model.EmbedOptions) (model.Embeddings, error) {
	if len(texts) == 0 {
		return model.Embeddings{}, fmt.Errorf("%w: no texts", ErrEmbed)
	}
	out := model.Embeddings{Vectors: make([][]float32, len(texts)), Tokens: make([]int, len(texts))}
	for i, text := range texts {
		ids, err := tok.Encode(text, true, opts.ParseSpecial)
		if err != nil {
			return model.Embeddings{}, fmt.Errorf("llama: text %d: tokenize: %w", i, err)
		}
		if n := min(enc.MaxTokens(), m.Config.ContextLength); len(ids) > n {
			if !opts.Truncate {
				return model.Embeddings{}, fmt.Errorf("text %d has %d tokens, the context holds %d: %w", i, len(ids), n, model.ErrTooLong)
			}
			ids = ids[:n]
		}
		out.Tokens[i] = len(ids)
		if out.Vectors[i], err = model.Pool(enc, ids, m.Config.Pooling, opts.Dimensions); err != nil {
			return model.Embeddings{}, fmt.Errorf("llama: text %d: %w", i, err)
		}
	}
	return out, nil
}
