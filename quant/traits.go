package quant

import (
	"math"

	"github.com/vkinfer/vkinfer/gguf"
)

// Activations is the form activations take before a product with weights
// of a type: llama.cpp's CPU backend converts them to the type's
// vec_dot_type, and our kernels do the same, so results agree with its.
type Activations uint8

// Activation forms.
const (
	// ActF32: as they are (F32; F16, whose x86 GEMM takes f32 inputs;
	// types whose kernels dequantize the weight row: Q4_1, Q5_1).
	ActF32 Activations = iota
	// ActBF16: rounded to bf16.
	ActBF16
	// ActQ8_0: ggml's Q8_0 blocks of 32 values with f16 scales.
	ActQ8_0
	// ActQ8_K: ggml's Q8_K blocks of 256 values with one f32 scale.
	ActQ8_K
)

// Traits is one row of the quant-type table: what the Go code knows of a
// type beyond its block layout (gguf.Type's block size and bytes). Each
// backend keeps its own row per type for its kernels (kernels' typeTable,
// vk/ops' shader types).
type Traits struct {
	// Dequantize converts whole blocks of src into dst.
	Dequantize func(src []byte, dst []float32)
	// Quantize converts whole blocks of src into dst; nil where vkinfer
	// does not write the type.
	Quantize func(src []float32, dst []byte)
	// Activations is what the kernels multiply its weights with.
	Activations Activations
}

// traits is the table: one row per type vkinfer reads.
var traits = map[gguf.Type]Traits{
	gguf.TypeF32:  {dequantF32, quantF32, ActF32},
	gguf.TypeF16:  {dequantF16, quantF16, ActF32},
	gguf.TypeBF16: {dequantBF16, quantBF16, ActBF16},
	gguf.TypeQ4_0: {dequantQ4_0, quantQ4_0, ActQ8_0},
	gguf.TypeQ4_1: {dequantQ4_1, nil, ActF32},
	gguf.TypeQ5_0: {dequantQ5_0, quantQ5_0, ActQ8_0},
	gguf.TypeQ5_1: {dequantQ5_1, nil, ActF32},
	gguf.TypeQ8_0: {dequantQ8_0, quantQ8_0, ActQ8_0},
	gguf.TypeQ2_K: {dequantQ2_K, nil, ActQ8_K},
	gguf.TypeQ3_K: {dequantQ3_K, nil, ActQ8_K},
	gguf.TypeQ4_K: {dequantQ4_K, quantQ4_K, ActQ8_K},
	gguf.TypeQ5_K: {dequantQ5_K, nil, ActQ8_K},
	gguf.TypeQ6_K: {dequantQ6_K, quantQ6_K, ActQ8_K},
	// ggml's vec_dot_type: Q8_0 for IQ4_NL, Q8_K for IQ4_XS.
	gguf.TypeIQ4_NL: {dequantIQ4_NL, nil, ActQ8_0},
	gguf.TypeIQ4_XS: {dequantIQ4_XS, nil, ActQ8_K},
}

// TraitsOf returns t's row of the table.
func TraitsOf(t gguf.Type) (Traits, bool) {
	tr, ok := traits[t]
	return tr, ok
}

// QuantizeQ8K quantizes one block of QK_K values as ggml's Q8_K: with m
// the value of largest magnitude, q = round-half-even(-127/m · x), capped
// at 127, and the scale it returns d = m/-127 (negative when m is: q·d is
// x either way; 0 for a block of zeros).
func QuantizeQ8K(x []float32, q []int8) (d float32) {
	var amax, mx float32
	for _, v := range x[:QK_K] {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, mx = a, v
		}
	}
	var iscale float32
	if amax != 0 {
		iscale = -127 / mx
		d = 1 / iscale
	}
	for i, v := range x[:QK_K] {
		q[i] = int8(min(int32(math.RoundToEven(float64(iscale*v))), 127))
	}
	return d
}

// RoundActivations sets out to x as kernels taking activations of form a
// see it: each value replaced by the one it stands for after the
// conversion (q·d for the quantized forms, with Q8_0's scales rounded to
// f16 and its values to the nearest, halves to even, as ggml's x86 code).
// out may be x. len(x) must be a whole number of the form's blocks.
func RoundActivations(a Activations, x, out []float32) {
	switch a {
	case ActF32:
		copy(out, x)
	case ActBF16:
		for i, v := range x {
			b := math.Float32bits(v)
			out[i] = math.Float32frombits((b + 0x7fff + (b>>16)&1) &^ 0xffff)
		}
	case ActQ8_0:
		for o := 0; o < len(x); o += QK {
			var amax float32
			for _, v := range x[o : o+QK] {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			dh := F16ToF32(F32ToF16(d))
			for i, v := range x[o : o+QK] {
				out[o+i] = float32(math.RoundToEven(float64(v*id))) * dh
			}
		}
	case ActQ8_K:
		var q [QK_K]int8
		for o := 0; o < len(x); o += QK_K {
			d := QuantizeQ8K(x[o:o+QK_K], q[:])
			for i, v := range q {
				out[o+i] = float32(v) * d
			}
		}
	}
}
