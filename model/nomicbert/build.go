package nomicbert

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/model"
)

// Build writes the encoder as llama.cpp's build_bert computes it for
// nomic-bert: every token's final hidden state (batches want all rows).
func (m *Model) Build(b *compute.Builder) compute.Tensor {
	c := m.Config
	e := c.Dim
	// llama.cpp keeps an encoder's keys and values in f32 (no cache).
	b.KeepCacheF32()
	rope := &compute.Rope{HeadDim: c.HeadDim, Dims: c.HeadDim, NeoX: true, Freqs: compute.RopeFreqs(float64(c.RopeBase), c.HeadDim, 1)}
	attn := &compute.Attention{Heads: c.Heads, KVHeads: c.Heads, HeadDim: c.HeadDim, Causal: c.Causal}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))

	x := b.GetRows(b.Weight("token_embd.weight", e, c.Vocab), b.Tokens())
	x = b.Add(x, b.WeightRows("token_types.weight", e, c.TokenTypes, 0, 1)) // every token is "sentence A"
	x = b.LayerNorm(x, b.Weight("token_embd_norm.weight", e, 1), b.Weight("token_embd_norm.bias", e, 1), c.NormEps)
	for l := range c.Layers {
		w := func(name string, cols, rows int) compute.Tensor {
			return b.Weight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}
		norm := func(x compute.Tensor, name string) compute.Tensor {
			return b.LayerNorm(x, w(name+".weight", e, 1), w(name+".bias", e, 1), c.NormEps)
		}
		qkv := b.MatMul(w("attn_qkv.weight", e, 3*e), x, compute.Tensor{})
		q, k, v := b.Rope(b.View(qkv, 0, e), rope), b.Rope(b.View(qkv, e, e), rope), b.View(qkv, 2*e, e)
		a := b.Attention(q, b.StoreKV(l, k, v), attn, scale)
		x = norm(b.Add(x, b.MatMul(w("attn_output.weight", e, e), a, compute.Tensor{})), "attn_output_norm")
		g := b.MatMul(w("ffn_gate.weight", e, c.FFN), x, compute.Tensor{})
		u := b.MatMul(w("ffn_up.weight", e, c.FFN), x, compute.Tensor{})
		x = norm(b.Add(x, b.MatMul(w("ffn_down.weight", c.FFN, e), b.SiLUMul(g, u), compute.Tensor{})), "layer_output_norm")
	}
	return b.Outputs(x)
}

// BuildEmbedding implements model.TextEmbedder: the encoder's graph.
func (m *Model) BuildEmbedding(b *compute.Builder) compute.Tensor { return m.Build(b) }

// EmbedTexts implements model.TextEmbedder: each text, tokenized with its
// special tokens, is pooled from its final hidden states as the file's
// pooling type says, by model.Pool (L2-normalised, cut to
// opts.Dimensions), and counted as the tokens it ran as. A text longer
// than a pass or the context fails with model.ErrTooLong unless
// opts.Truncate cuts it.
func (m *Model) EmbedTexts(enc model.Encoder, tok model.Tokenizer, texts []string, opts model.EmbedOptions) (model.Embeddings, error) {
	return model.EmbedEach(enc, tok, texts, opts, model.TextPass{Arch: "nomic-bert", Context: m.Config.ContextLength, Pooling: m.Config.Pooling})
}
