package phi3

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
)

// Build writes Phi-3's forward pass as llama.cpp's build_phi3 computes
// it: the logits of the tokens that want outputs.
func (m *Model) Build(b *compute.Builder) compute.Tensor {
	c := m.Config
	rope := &compute.Rope{HeadDim: c.HeadDim, Dims: c.RopeDim, NeoX: true, Freqs: compute.RopeFreqs(float64(c.RopeBase), c.RopeDim, 1)}
	attn := &compute.Attention{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Causal: true, Window: c.Window}

	x := b.GetRows(b.Weight("token_embd.weight", c.Dim, c.Vocab), b.Tokens())
	for l := range c.Layers {
		w := func(name string, cols, rows int) compute.Tensor {
			return b.Weight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}
		h := b.RMSNorm(x, w("attn_norm.weight", c.Dim, 1), c.NormEps)
		qkv := b.MatMul(w("attn_qkv.weight", c.Dim, c.Dim+2*c.KVDim()), h, compute.Tensor{})
		q, k, v := b.View(qkv, 0, c.Dim), b.View(qkv, c.Dim, c.KVDim()), b.View(qkv, c.Dim+c.KVDim(), c.KVDim())
		// llama.cpp scales the rotated queries, not the scores: the scaled
		// queries are what its f16 K cache product rounds.
		q = b.Scale(b.Rope(q, rope), float32(1/math.Sqrt(float64(c.HeadDim))))
		a := b.Attention(q, b.StoreKV(l, b.Rope(k, rope), v), attn, 1)
		x = b.Add(x, b.MatMul(w("attn_output.weight", c.Dim, c.Dim), a, compute.Tensor{}))

		h = b.RMSNorm(x, w("ffn_norm.weight", c.Dim, 1), c.NormEps)
		gu := b.MatMul(w("ffn_up.weight", c.Dim, 2*c.FFN), h, compute.Tensor{})
		f := b.SiLUMul(b.View(gu, 0, c.FFN), b.View(gu, c.FFN, c.FFN)) // first half gate, second up
		x = b.Add(x, b.MatMul(w("ffn_down.weight", c.FFN, c.Dim), f, compute.Tensor{}))
	}
	h := b.RMSNorm(b.Outputs(x), b.Weight("output_norm.weight", c.Dim, 1), c.NormEps)
	return b.MatMul(b.Weight("output.weight", c.Dim, c.Vocab), h, compute.Tensor{})
}
