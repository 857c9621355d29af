// Package kernels holds the CPU compute kernels the forward pass spends its
// time in: matrix-vector products over weights kept in their GGUF types;
// RMSNorm, SiLU·mul, softmax and add; attention over a KV cache (Attend)
// and rotary position embedding (Rope); and the worker pool that splits
// them (and other per-row work, through Parallel) over cores.
//
// Every kernel has a portable Go version, which runs everywhere (arm64
// included) and is the reference the fast paths are tested against. On
// x86-64 with cgo, C versions compiled for AVX2+FMA+F16C are chosen at run
// time when the CPU has those features, and an AVX-512 VNNI one for Q8_0
// where it exists. Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K weights are
// multiplied with the activations quantized to 8-bit blocks (as llama.cpp
// does), using integer dot products; F32, F16 and BF16 in floating point
// (F16/BF16 with the input rounded as ggml rounds it); other types are
// dequantized row by row. A batch of inputs (a prompt, a BERT batch) goes
// through register-blocked kernels that unpack each weight block once for
// four inputs, with results identical to one input at a time. The K-quant
// kernels sum a super-block's eight integer dot products across vector
// lanes together, so its scales and the activations' scales are applied
// as vectors of eight rather than one sub-block at a time.
//
// Rows are split over a fixed set of worker goroutines (Threads), and a
// warm call allocates nothing.
package kernels
