package bert

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
)

// Build writes the BERT encoder as a graph of ops over the model's named
// tensors: token, position and type-0 embeddings, LayerNorm, then blocks
// of attention over each sequence (bidirectional unless the file says
// causal) and a GELU feed-forward, each followed by its residual and a
// LayerNorm (post-LN). The result is every token's final hidden state
// (batches want all rows). No backend appears here: package compute's
// executors run it.
func (m *Model) Build(b *compute.Builder) compute.Tensor {
	c := m.Config
	e := c.Embd
	b.KeepCacheF32()
	x := b.GetRows(b.Weight("token_embd.weight", e, c.Vocab), b.Tokens())
	x = b.Add(x, b.GetRows(b.Weight("position_embd.weight", e, c.ContextLength), b.Positions()))
	if c.TokenTypes > 0 {
		x = b.Add(x, b.WeightRows("token_types.weight", e, c.TokenTypes, 0, 1)) // every token is "sentence A"
	}
	x = b.LayerNorm(x, b.Weight("token_embd_norm.weight", e, 1), b.Weight("token_embd_norm.bias", e, 1), c.NormEps)

	attn := &compute.Attention{Heads: c.Heads, KVHeads: c.Heads, HeadDim: c.HeadDim, Causal: c.Causal}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	for l := range c.Blocks {
		w := func(name string, cols, rows int) compute.Tensor {
			return b.Weight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}
		linear := func(name string, in, out int, x compute.Tensor) compute.Tensor {
			return b.MatMul(w(name+".weight", in, out), x, w(name+".bias", out, 1))
		}
		q, k, v := linear("attn_q", e, e, x), linear("attn_k", e, e, x), linear("attn_v", e, e, x)
		a := b.Attention(q, b.StoreKV(l, k, v), attn, scale)
		x = b.LayerNorm(b.Add(x, linear("attn_output", e, e, a)), w("attn_output_norm.weight", e, 1), w("attn_output_norm.bias", e, 1), c.NormEps)
		f := linear("ffn_down", c.FFN, e, b.GELU(linear("ffn_up", e, c.FFN, x)))
		x = b.LayerNorm(b.Add(x, f), w("layer_output_norm.weight", e, 1), w("layer_output_norm.bias", e, 1), c.NormEps)
	}
	return b.Outputs(x)
}
