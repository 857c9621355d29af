package llama

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
)

// Build writes the llama family's forward pass (llama, mistral, qwen2's
// q/k/v biases, qwen3's q/k norms, tied or untied output, Mixtral's
// experts) as a graph of
// ops over the model's named tensors, for batches of b's shape. Its result
// is the logits of the tokens that want outputs. No backend appears here:
// package compute's executors run it.
func (m *Model) Build(b *compute.Builder) compute.Tensor {
	return m.output(b, m.hidden(b))
}

// BuildHidden is Build without the output projection: the final hidden
// states (after the output norm) of the tokens that want outputs, which
// embeddings pool.
func (m *Model) BuildHidden(b *compute.Builder) compute.Tensor {
	c := m.Config
	return b.RMSNorm(b.Outputs(m.hidden(b)), b.Weight("output_norm.weight", c.Dim, 1), c.NormEps)
}

// hidden returns the residual stream after the last block, one row per
// token of the batch.
func (m *Model) hidden(b *compute.Builder) compute.Tensor {
	c := m.Config
	freqs, err := m.RopeFrequencies()
	if err != nil {
		b.Fail(err)
	}
	rope := &compute.Rope{HeadDim: c.HeadDim, Dims: c.RopeDim, NeoX: c.Rope == RopeNeoX, Freqs: freqs}
	attn := &compute.Attention{Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Causal: true}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	var moe *compute.MoE
	if c.Experts > 0 {
		// Mixtral: softmax over every expert, the top ExpertsUsed
		// renormalised (llama.cpp's llama graph).
		moe = &compute.MoE{Experts: c.Experts, Used: c.ExpertsUsed, Renorm: true}
	}

	x := b.GetRows(b.Weight("token_embd.weight", c.Dim, c.VocabSize), b.Tokens())
	for l := range c.Layers {
		w := func(name string, cols, rows int) compute.Tensor {
			return b.Weight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}
		opt := func(name string, cols, rows int) compute.Tensor {
			return b.OptionalWeight(fmt.Sprintf("blk.%d.%s", l, name), cols, rows)
		}

		h := b.RMSNorm(x, w("attn_norm.weight", c.Dim, 1), c.NormEps)
		q := b.MatMul(w("attn_q.weight", c.Dim, c.QDim()), h, opt("attn_q.bias", c.QDim(), 1))
		k := b.MatMul(w("attn_k.weight", c.Dim, c.KVDim()), h, opt("attn_k.bias", c.KVDim(), 1))
		v := b.MatMul(w("attn_v.weight", c.Dim, c.KVDim()), h, opt("attn_v.bias", c.KVDim(), 1))
		if qn := opt("attn_q_norm.weight", c.HeadDim, 1); qn.Valid() {
			q = b.HeadRMSNorm(q, qn, c.NormEps, c.HeadDim)
		}
		if kn := opt("attn_k_norm.weight", c.HeadDim, 1); kn.Valid() {
			k = b.HeadRMSNorm(k, kn, c.NormEps, c.HeadDim)
		}
		q, k = b.Rope(q, rope), b.Rope(k, rope)
		a := b.Attention(q, b.StoreKV(l, k, v), attn, scale)
		x = b.Add(x, b.MatMul(w("attn_output.weight", c.QDim(), c.Dim), a, compute.Tensor{}))

		h = b.RMSNorm(x, w("ffn_norm.weight", c.Dim, 1), c.NormEps)
		if moe != nil {
			exps := func(name string, cols, rows int) compute.Tensor {
				return b.Experts(fmt.Sprintf("blk.%d.%s", l, name), cols, rows, c.Experts)
			}
			logits := b.MatMul(w("ffn_gate_inp.weight", c.Dim, c.Experts), h, compute.Tensor{})
			x = b.Add(x, b.MoE(h, logits, exps("ffn_gate_exps.weight", c.Dim, c.FFN), exps("ffn_up_exps.weight", c.Dim, c.FFN),
				exps("ffn_down_exps.weight", c.FFN, c.Dim), moe))
			continue
		}
		g := b.MatMul(w("ffn_gate.weight", c.Dim, c.FFN), h, compute.Tensor{})
		u := b.MatMul(w("ffn_up.weight", c.Dim, c.FFN), h, compute.Tensor{})
		x = b.Add(x, b.MatMul(w("ffn_down.weight", c.FFN, c.Dim), b.SiLUMul(g, u), compute.Tensor{}))
	}
	return x
}

// output normalises the output tokens' rows and projects them to logits
// (by token_embd when the model ties its embeddings).
func (m *Model) output(b *compute.Builder, x compute.Tensor) compute.Tensor {
	c := m.Config
	h := b.RMSNorm(b.Outputs(x), b.Weight("output_norm.weight", c.Dim, 1), c.NormEps)
	out := b.OptionalWeight("output.weight", c.Dim, c.VocabSize)
	if !out.Valid() {
		out = b.Weight("token_embd.weight", c.Dim, c.VocabSize)
	}
	return b.MatMul(out, h, compute.Tensor{})
}
