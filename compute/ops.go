package compute

import "fmt"

// Op is what a scratch node computes from its sources. Activations are
// float32 matrices of one row per token unless said otherwise.
type Op uint8

// The op set. "a", "b" are Src[0], Src[1].
const (
	// OpLeaf: a weight or an input, computed by nothing.
	OpLeaf Op = iota
	// OpGetRows: rows of weight a (any type, dequantized) picked by the
	// input b: the batch's token ids or positions.
	OpGetRows
	// OpMatMul: each row x of b times weight a (a.Rows outputs of a.Cols
	// inputs, any supported type): out = a·x, plus the optional bias
	// Src[2] (one row).
	OpMatMul
	// OpAdd, OpMul: elementwise a+b, a·b; b may be one row, added to or
	// multiplied into every row of a.
	OpAdd
	OpMul
	// OpScale: a·Params.Scale.
	OpScale
	// OpRMSNorm: each row (or each group of Params.Group columns) of a
	// divided by its root mean square (+Params.Eps), times the optional
	// weight row b (which has Group columns when grouped).
	OpRMSNorm
	// OpLayerNorm: each row of a less its mean, divided by its standard
	// deviation (+Params.Eps), times the optional weight b plus the
	// optional bias Src[2].
	OpLayerNorm
	// OpRope: a rotated per head by the positions of the batch
	// (Params.Rope).
	OpRope
	// OpStoreKV: writes keys a and values b of every token into cache
	// layer Params.Layer at the token's cell (Batch.Cell). Its result is no data: an
	// Attention that reads the layer takes it as a source, which orders
	// the two.
	OpStoreKV
	// OpAttention: for each token and head of the queries a, softmax of
	// the scaled (and optionally soft-capped) dot products with the keys
	// the token sees in cache layer Params.Layer (Batch.KeyCells),
	// applied to their values (Params.Attn). b is the layer's OpStoreKV.
	OpAttention
	// OpSiLUMul: silu(a)·b, the gated feed-forward of llama.
	OpSiLUMul
	// OpGELU: gelu(a): the tanh approximation, at a rounded to f16 and
	// rounded to f16, as ggml's CPU backend looks it up in an f16 table.
	OpGELU
	// OpGELUMul: gelu(a)·b.
	OpGELUMul
	// OpSoftmax: each row of a, softmaxed.
	OpSoftmax
	// OpView: columns Params.Off .. Params.Off+Shape.Cols of a (fused
	// projections split into their parts).
	OpView
	// OpOutputs: the rows of a for the tokens the batch wants outputs
	// of, in batch order.
	OpOutputs
	// OpSoftCap: a soft-capped to (-Params.Scale, Params.Scale):
	// tanh(a·(1/cap))·cap in float32, the scale, tanh and scale ggml's
	// graph of Gemma 2's final logits computes.
	OpSoftCap
	// OpMoE: a mixture-of-experts feed-forward (Params.MoE), as
	// llama.cpp's build_moe_ffn computes it. a is the normed input, b the
	// router's logits (one row of Experts per token), Src[2..4] the gate,
	// up and down expert stacks (Builder.Experts). Per token: probs =
	// softmax(logits); the Used experts of highest probability (ties to
	// the lower index), in that order, weigh w_k = probs[e_k], divided by
	// their sum when Renorm; out = Σ_k w_k · down_k(silu(gate_k·a) ·
	// up_k·a), each term rounded to float32 and added in k order. The
	// experts' inputs are rounded to f16 for F16 stacks (ggml's
	// mul_mat_id converts them to the f16 the dense matmul does not).
	OpMoE
)

var opNames = [...]string{
	OpLeaf: "leaf", OpGetRows: "get_rows", OpMatMul: "matmul", OpAdd: "add", OpMul: "mul", OpScale: "scale",
	OpRMSNorm: "rms_norm", OpLayerNorm: "layer_norm", OpRope: "rope", OpStoreKV: "store_kv",
	OpAttention: "attention", OpSiLUMul: "silu_mul", OpGELU: "gelu", OpGELUMul: "gelu_mul",
	OpSoftmax: "softmax", OpView: "view", OpOutputs: "outputs", OpSoftCap: "soft_cap",
	OpMoE: "moe",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}
