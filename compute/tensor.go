package compute

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
)

// Kind says what backs a tensor.
type Kind uint8

// Tensor kinds.
const (
	// KindWeight is a named tensor of the model file, in its stored type.
	KindWeight Kind = iota + 1
	// KindInput is filled from the batch at each step (token ids).
	KindInput
	// KindScratch is the float32 result of an op, alive for one step.
	KindScratch
)

func (k Kind) String() string {
	switch k {
	case KindWeight:
		return "weight"
	case KindInput:
		return "input"
	case KindScratch:
		return "scratch"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Tensor is a handle to a node of the graph being built. The zero Tensor
// is "none": an optional weight the model lacks.
type Tensor struct{ id int32 }

// Valid reports whether t names a node (false for an absent optional
// weight).
func (t Tensor) Valid() bool { return t.id > 0 }

// Index returns t's position in Graph.Nodes.
func (t Tensor) Index() int { return int(t.id) - 1 }

// Shape is a tensor's size: Cols is the row length (ggml's ne0), Rows the
// number of rows. A weight matrix has Rows outputs of Cols inputs; an
// activation has one row per batch token.
type Shape struct{ Cols, Rows int }

// Elems returns Cols × Rows.
func (s Shape) Elems() int { return s.Cols * s.Rows }

func (s Shape) String() string { return fmt.Sprintf("[%d×%d]", s.Cols, s.Rows) }

// Node is one tensor of a graph: a leaf (weight or input) or the result
// of Op over Src.
type Node struct {
	Kind  Kind
	Op    Op
	Type  gguf.Type // the stored type of a weight; F32 for scratch, I32 for ids
	Shape Shape
	Src   [5]Tensor
	// Name is the GGUF name of a weight, the input's name, or a label for
	// a scratch tensor (for errors and profiles).
	Name string
	// Weight is a weight's data as stored (a view into the model file).
	Weight []byte
	// Params holds the op's parameters; see the Op constants.
	Params Params
}

// Params are the parameters of the ops that have any; each op reads only
// its own fields.
type Params struct {
	Eps   float32 // RMSNorm, LayerNorm
	Scale float32 // Scale; Attention's score scale; SoftCap's cap
	Group int     // RMSNorm: normalise each group of Group columns (0 = the row)
	Layer int     // StoreKV, Attention: the KV cache layer
	Off   int     // View: first column
	Rope  *Rope   // Rope
	Attn  *Attention
	MoE   *MoE
}

// MoE describes a mixture-of-experts feed-forward. Its expert stacks are
// weights of Experts matrices one after another: Shape.Rows is Experts
// times one expert's rows. Each expert's gate is SiLU (Mixtral, Qwen2-
// and Qwen3-MoE).
type MoE struct {
	Experts, Used int
	// Renorm divides the chosen experts' probabilities by their sum
	// (Mixtral, Qwen3-MoE); otherwise they weigh as they are (Qwen2-MoE).
	Renorm bool
}

// Rope describes a rotary position embedding.
type Rope struct {
	HeadDim int  // columns per head
	Dims    int  // leading columns of each head that rotate (even)
	NeoX    bool // pairs (i, i+Dims/2) rather than (2i, 2i+1)
	// Freqs is the angle per position of each rotated pair, Dims/2 of
	// them (scaling and per-pair factors already applied).
	Freqs []float64
}

// Attention describes attention over the KV cache.
type Attention struct {
	Heads, KVHeads, HeadDim int
	// Causal: a token sees the positions up to its own; otherwise every
	// position of its sequence in the cache.
	Causal bool
	// Window, when > 0, limits a token to the last Window positions
	// (sliding-window attention).
	Window int
	// SoftCap, when > 0, maps scores s to SoftCap·tanh(s/SoftCap) before
	// the softmax.
	SoftCap float32
}

// RopeFreqs returns the rotation frequency of each of the dims/2 rotated
// pairs of a head: scale·base^(-2i/dims) radians per position (scale is
// 1/the linear scaling factor).
func RopeFreqs(base float64, dims int, scale float64) []float64 {
	freqs := make([]float64, dims/2)
	for i := range freqs {
		freqs[i] = scale * math.Pow(base, -2*float64(i)/float64(dims))
	}
	return freqs
}
