// Package kernels holds the CPU compute kernels the forward pass spends its
// time in: matrix-vector products over weights kept in their GGUF types;
// RMSNorm, SiLU·mul, softmax and add; attention over a KV cache (Attend)
// and rotary position embedding (Rope); and the worker pool that splits
// them (and other per-row work, through Parallel) over cores.
//
// The kernels come in sets, each extending the one below:
//
//   - go: portable Go, on every platform (arm64 included); the reference
//     the others are tested against.
//   - avx2: C built for AVX2+FMA+F16C (x86-64 with cgo), for every op and
//     for the matrix types below that have their own kernels.
//   - avx512: avx2 with AVX-512 (F, BW, VL) kernels where a type has
//     them: the packed GEMM (below), and the tile attention over heads of
//     a multiple of 16 (AttendTileHalf), whose 16-lane sums take another
//     order than avx2's (each within its bound of go).
//   - vnni: avx512 with VNNI kernels for Q4_0, Q5_0, Q8_0, IQ4_NL,
//     Q2_K..Q6_K and F16, one input and four (avx512_amd64.c), and the
//     packed GEMM's: two 32-element blocks per 512-bit register,
//     vpdpbusd for the byte products, each weight entering as an unsigned
//     code whose offset comes off through the activations' block sums.
//     They form the AVX2 kernels' exact integer dots and then do their
//     float arithmetic, so their results equal avx2's bit for bit (the
//     model oracle tests hold the CPU to llama.cpp's summation order).
//   - bf16: vnni with an AVX512-BF16 kernel (vdpbf16ps) for BF16 weights,
//     which sums in pairs, in an order of its own (within 1e-5 of go).
//
// The best set the CPU supports is chosen once at start (KernelSet names
// it; UseKernelSet picks a lower one, for benchmarks); MatVec.Portable and
// the portable arguments pick go for one call. Tests run every set
// the host supports, forcing one at a time (so a VNNI host proves avx2
// and go too), and TestMain prints which ran and which were skipped, as
// "kernels: variants proven on this host: go, avx2, avx512, vnni, bf16"
// (visible with
// go test -v, on failure, or from go test inside this directory). Every
// run-time choice of kernel depends on that one setting, so forcing it
// reaches every path.
//
// Each weight type has a row in typeTable (types.go) naming its kernels
// per set; what its activations become first is its row of quant's
// traits, as llama.cpp converts them: Q8_0, Q4_0 and Q5_0 weights meet
// Q8_0 blocks with f16 scales, the K-quants Q8_K blocks (one scale per
// 256), through integer dot products; F32 and F16 take f32 inputs, BF16
// bf16-rounded ones; types without kernels are dequantized row by row. A batch of inputs (a prompt, a BERT batch) goes
// through register-blocked kernels that unpack each weight block once for
// four inputs, with results identical to one input at a time. The K-quant
// kernels sum a super-block's eight integer dot products across vector
// lanes together, so its scales and the activations' scales are applied
// as vectors of eight rather than one sub-block at a time.
//
// Matrices of the types that have a packed layout (Q8_0, Q4_0, Q5_0,
// IQ4_NL, Q4_K, Q6_K) can be repacked once (Repack) into groups of eight
// interleaved rows, which Gemm multiplies by one input or a batch: each
// 32-bit lane of a vector is one row's sum, so a register tile of rows ×
// inputs needs no sums across lanes. Each output takes one fixed sequence
// of operations (an exact integer dot per block, then one fused
// multiply-add), whatever the batch, the rows around it or the kernel
// set: one input at a time gives a batch's bits, avx2 gives avx512's and
// vnni's, and the Go reference (with an exactly rounded fma) gives them
// too. That is the batch invariance continuous batching relies on.
//
// Rows are split over the caller and a fixed set of worker goroutines
// (Threads) in contiguous chunks, four a part, claimed in turn (Split),
// so a decode step reads each weight once, each chunk one sequential
// stream, and a late or slowed core costs a chunk, not half the call.
// Between calls the workers poll briefly, yielding, before they sleep,
// as a decode step's calls come microseconds apart.
// The C kernels prefetch a few KiB ahead
// (the hardware prefetcher alone left a core's arithmetic and its misses
// unoverlapped). BenchmarkDecode measures that stream's rate per kernel
// set, BenchmarkReadBandwidth the memory's read rate to hold it to. A
// warm call allocates nothing.
package kernels
