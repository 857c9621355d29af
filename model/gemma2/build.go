package gemma2

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
)

// Build writes Gemma 2's forward pass as llama.cpp's build_gemma2
// computes it: the soft-capped logits of the tokens that want outputs.
func (m *Model) Build(b *compute.Builder) compute.Tensor {
	c := m.Config
	rope := &compute.Rope{HeadDim: c.HeadDim, Dims: c.RopeDim, NeoX: true, Freqs: compute.RopeFreqs(float64(c.RopeBase), c.RopeDim, 1)}
	global := &compute.Attention{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Causal: true, SoftCap: c.AttnSoftCap}
	local := *global
	local.Window = c.Window

	embd := b.Weight("token_embd.weight", c.Dim, c.Vocab)
	x := b.Scale(b.GetRows(embd, b.Tokens()), float32(math.Sqrt(float64(c.Dim))))
	for l := range c.Layers {
		w := func(name string, cols, rows int) compute.Tensor {
			return b.Weight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}
		attn := global
		if l%2 == 0 {
			attn = &local
		}
		// The norm weights are used as stored: the converter already added
		// the 1 that Gemma's checkpoints leave out.
		h := b.RMSNorm(x, w("attn_norm.weight", c.Dim, 1), c.NormEps)
		q := b.MatMul(w("attn_q.weight", c.Dim, c.QDim()), h, compute.Tensor{})
		k := b.MatMul(w("attn_k.weight", c.Dim, c.KVDim()), h, compute.Tensor{})
		v := b.MatMul(w("attn_v.weight", c.Dim, c.KVDim()), h, compute.Tensor{})
		// llama.cpp scales the rotated queries, so the scores' scale is 1
		// and the soft-cap sees the scaled scores.
		q = b.Scale(b.Rope(q, rope), c.QScale)
		a := b.Attention(q, b.StoreKV(l, b.Rope(k, rope), v), attn, 1)
		a = b.MatMul(w("attn_output.weight", c.QDim(), c.Dim), a, compute.Tensor{})
		x = b.Add(x, b.RMSNorm(a, w("post_attention_norm.weight", c.Dim, 1), c.NormEps))

		h = b.RMSNorm(x, w("ffn_norm.weight", c.Dim, 1), c.NormEps)
		g := b.MatMul(w("ffn_gate.weight", c.Dim, c.FFN), h, compute.Tensor{})
		u := b.MatMul(w("ffn_up.weight", c.Dim, c.FFN), h, compute.Tensor{})
		f := b.MatMul(w("ffn_down.weight", c.FFN, c.Dim), b.GELUMul(g, u), compute.Tensor{})
		x = b.Add(x, b.RMSNorm(f, w("post_ffw_norm.weight", c.Dim, 1), c.NormEps))
	}
	h := b.RMSNorm(b.Outputs(x), b.Weight("output_norm.weight", c.Dim, 1), c.NormEps)
	return b.SoftCap(b.MatMul(embd, h, compute.Tensor{}), c.FinalSoftCap)
}
