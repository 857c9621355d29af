// Package quant holds the ggml block layouts of the tensor types vkinfer
// reads, with reference (portable, unoptimised) dequantize and quantize code.
// One file per type family; kernels and shaders are tested against these.
package quant
