package kernels

import (
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// input is one activation row in the forms a weight type's kernels take:
// x, the float values (rounded to bf16 for BF16 weights), or for the
// quantized types xq, xd, xs: blocks of 32 quantized values with each
// block's scale and integer sum.
type input struct {
	x  []float32
	xq []int8
	xd []float32
	xs []int32
}

// input4 is four inputs for the four-input kernels: x, the float rows;
// or the quantized rows one after another from xq (cols apart) with their
// block scales and sums from xd and xs (cols/32 apart).
type input4 struct {
	x  [4][]float32
	xq []int8
	xd []float32
	xs []int32
}

// typeKernels is one row of the CPU kernel table: the kernels that
// multiply weights of a type by activations, per kernel set. A nil kernel
// falls back: a set without a four-input kernel runs its single-input one
// four times, a set without a kernel runs the one below it, and a type
// without a Go kernel dequantizes each weight row and takes an f32 dot.
// Adding a type is a row here (and in quant's traits), plus its kernels.
type typeKernels struct {
	// dot is the Go kernel of one weight row.
	dot func(w []byte, in *input) float32
	// avx2, vnni and bf16 multiply weight rows [lo, hi) by one input (nb
	// is the row's blocks of the type, or its values for float types);
	// avx2x4 and vnnix4 by four. A set has both or neither of its one-
	// and four-input kernels (bf16 has no four-input kernel, and is only
	// BF16's, which has no other four-input kernel), so a batch runs the
	// single input's set.
	avx2, vnni, bf16 func(w []byte, in *input, y []float32, lo, hi, nb int)
	avx2x4, vnnix4   func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int)
}

// typeTable holds the Go kernels; the C build adds its sets to the rows
// (simd_amd64.go). Q4_1 and Q5_1 have no row: their rows are dequantized.
var typeTable = map[gguf.Type]*typeKernels{
	gguf.TypeF32:  {dot: func(w []byte, in *input) float32 { return dotF32Bytes(w, in.x) }},
	gguf.TypeF16:  {},
	gguf.TypeBF16: {},
	gguf.TypeQ8_0: {dot: func(w []byte, in *input) float32 { return dotQ8_0(w, in.xq, in.xd) }},
	gguf.TypeQ4_0: {dot: func(w []byte, in *input) float32 { return dotQ4_0(w, in.xq, in.xd) }},
	gguf.TypeQ5_0: {dot: func(w []byte, in *input) float32 { return dotQ5_0(w, in.xq, in.xd) }},
	gguf.TypeQ2_K: {dot: func(w []byte, in *input) float32 { return dotQ2_K(w, in.xq, in.xd) }},
	gguf.TypeQ3_K: {dot: func(w []byte, in *input) float32 { return dotQ3_K(w, in.xq, in.xd) }},
	gguf.TypeQ4_K: {dot: func(w []byte, in *input) float32 { return dotQ4_K(w, in.xq, in.xd, in.xs) }},
	gguf.TypeQ5_K: {dot: func(w []byte, in *input) float32 { return dotQ5_K(w, in.xq, in.xd, in.xs) }},
	gguf.TypeQ6_K: {dot: func(w []byte, in *input) float32 { return dotQ6_K(w, in.xq, in.xd) }},

	// The non-linear 4-bit types (iq4.go).
	gguf.TypeIQ4_NL: {dot: func(w []byte, in *input) float32 { return dotIQ4_NL(w, in.xq, in.xd) }},
	gguf.TypeIQ4_XS: {dot: func(w []byte, in *input) float32 { return dotIQ4_XS(w, in.xq, in.xd) }},
}

// activations returns how t's kernels take their inputs (quant's traits).
func activations(t gguf.Type) quant.Activations {
	tr, _ := quant.TraitsOf(t)
	return tr.Activations
}

// quantized reports whether t's kernels take quantized inputs.
func quantized(t gguf.Type) bool {
	a := activations(t)
	return a == quant.ActQ8_0 || a == quant.ActQ8_K
}

// single returns set v's single-input kernel of k, or the best set below
// v that has one (nil: the Go path).
func (k *typeKernels) single(v isa) func(w []byte, in *input, y []float32, lo, hi, nb int) {
	if v >= isaBF16 && k.bf16 != nil {
		return k.bf16
	}
	if v >= isaVNNI && k.vnni != nil {
		return k.vnni
	}
	if v >= isaAVX2 {
		return k.avx2
	}
	return nil
}

// four returns set v's four-input kernel of k, as single does.
func (k *typeKernels) four(v isa) func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
	if v >= isaVNNI && k.vnnix4 != nil {
		return k.vnnix4
	}
	if v >= isaAVX2 {
		return k.avx2x4
	}
	return nil
}
