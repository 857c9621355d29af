package llama

import (
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
	return model.EmbedEach(enc, tok, texts, opts, model.TextPass{Arch: "llama", Context: m.Config.ContextLength, Pooling: m.Config.Pooling})
}
