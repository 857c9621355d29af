// Package kernels holds the CPU compute kernels the forward pass spends its
// time in: matrix-vector products over weights kept in their GGUF types.
//
// Every kernel has a portable Go version, which runs everywhere and is the
// reference the fast paths are tested against. On x86-64 with cgo, C
// versions compiled for AVX2+FMA+F16C are chosen at run time when the CPU
// has those features, and an AVX-512 VNNI one for Q8_0 where it exists. Q8_0, Q4_0, Q4_K and Q6_K weights are multiplied with the
// activations quantized to 8-bit blocks (as llama.cpp does), using integer
// dot products; other types are dequantized row by row.
//
// Rows are split over a fixed set of worker goroutines (Threads), and a
// warm call allocates nothing.
package kernels
