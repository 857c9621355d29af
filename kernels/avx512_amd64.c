//go:build cgo

// AVX-512 matrix-vector kernels: the vnni set (AVX-512 F/BW/VL with VNNI)
// for Q4_0, Q5_0, Q8_0, IQ4_NL, Q2_K..Q6_K and F16 weights, and the bf16
// set's BF16 kernel (AVX512-BF16). Called only when the CPU has the
// features (kernels_vnni_supported, kernels_bf16_supported).
//
// The quantized kernels multiply bytes with vpdpbusd, which takes one
// side unsigned and the other signed and adds four products into each
// 32-bit lane without saturating. So every weight enters as an unsigned
// code and the offset that makes it signed comes off afterwards, through
// the activations' block sums: Q4_0 (code − 8), Q5_0 (− 16), Q8_0 (q
// with its sign bit flipped: q + 128), IQ4_NL (its int8 levels + 128,
// looked up from a table), or in the lanes for the K-quants. A 512-bit
// register holds two 32-element blocks, one in each half; an input is 32
// bytes per block, so one 64-byte load feeds a pair.
//
// The integer dots are exact however they are formed, and each kernel
// turns them into the same eight per-block sums as its AVX2 kernel and
// then does the AVX2 kernel's float arithmetic, operation for operation:
// the vnni set's results equal the avx2 set's bit for bit (TestMatVec
// holds them to it). The CPU's sums follow ggml's order, and the model
// oracle tests hold them to llama.cpp's outputs, where another order can
// cross an activation rounding step. (IQ4_XS has no AVX-512 kernel: one
// with the AVX2 kernel's lanes was no faster.) For n = 4 inputs each
// weight block is unpacked once and every input gets the single input's
// exact sequence of operations, so DoBatch equals Do.

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c")))

int kernels_vnni_supported(void) {
	__builtin_cpu_init();
	return kernels_supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// GCC 12 has no __builtin_cpu_supports name for AVX512-BF16, so it is read
// from CPUID leaf 7 subleaf 1 (EAX bit 5); the OS's saving of the AVX-512
// state is part of the avx512f check above.
int kernels_bf16_supported(void) {
	if (!kernels_vnni_supported()) return 0;
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
	return (a >> 5) & 1;
}

// Lane s of the result is the sum of the eight lanes of sub-block s, where
// z[j] holds sub-blocks 2j (lanes 0..7) and 2j+1 (lanes 8..15).
VNNI static inline __m256i sum_pairs(const __m512i z[4]) {
	const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
	const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
	// 128-bit chunk c of u: the sums of chunk c of z[0], z[1], z[2], z[3];
	// chunks 0 and 1 are the even sub-blocks', 2 and 3 the odd ones'.
	__m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
	u = _mm512_shuffle_i64x2(u, u, _MM_SHUFFLE(3, 1, 2, 0));
	const __m256i eo = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1)); // s 0,2,4,6, 1,3,5,7
	return _mm256_permutevar8x32_epi32(eo, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Two 16-byte nibble blocks (byte j: element j low, j+16 high) as 64
// codes in element order, the first block's in the low half.
VNNI static inline __m512i nibble_pair(const uint8_t *b0, const uint8_t *b1) {
	const __m128i lo = _mm_loadu_si128((const __m128i *)b0);
	const __m128i hi = b1 ? _mm_loadu_si128((const __m128i *)b1) : _mm_setzero_si128();
	const __m256i v = _mm256_set_m128i(hi, lo);
	__m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
	z = _mm512_and_si512(z, _mm512_set1_epi8(0xF));
	return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

// The IQ4 levels + 128 (unsigned) in every 128-bit lane.
VNNI static inline __m512i iq4_levels_u8(void) {
	const __m128i t = _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
	return _mm512_broadcast_i32x4(_mm_xor_si128(t, _mm_set1_epi8((char)0x80)));
}

// The f16 scales at the start of the blocks in lanes (of 8) of a group
// bs bytes apart, as floats (0 in the other lanes): one masked gather of
// the blocks' first four bytes, narrowed to their low 16 bits.
VNNI static inline __m256 gather_scales(const uint8_t *blk, long bs, __mmask8 lanes) {
	const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)bs));
	const __m256i h = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), lanes, at, blk, 1);
	return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(h));
}

// The f16 scales of a whole group of eight blocks bs (even, 18 to 34)
// bytes apart, as floats: word permutes of the group's first 256 bytes
// (128 for 18-byte blocks), cheaper than a gather.
VNNI static inline __attribute__((always_inline)) __m256 group_scales(const uint8_t *blk, long bs) {
	short lo[8], hi[8];
	__mmask32 upper = 0;
	for (int j = 0; j < 8; j++) {
		const int w = (int)(j * bs / 2); // the scale's word in the group
		lo[j] = (short)(w & 63);
		hi[j] = (short)((w - 64) & 63);
		if (w >= 64) upper |= 1u << j;
	}
	const __m512i r0 = _mm512_loadu_si512((const void *)blk), r1 = _mm512_loadu_si512((const void *)(blk + 64));
	__m512i h = _mm512_permutex2var_epi16(r0, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)lo)), r1);
	if (upper) {
		// Loads stop at the group's end (the weights' end, for the last).
		const long past = 8 * bs - 128;
		const __m512i r2 = _mm512_maskz_loadu_epi8(past >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << past) - 1, blk + 128);
		const __m512i r3 = past > 64 ? _mm512_maskz_loadu_epi8(past >= 128 ? ~(__mmask64)0 : ((__mmask64)1 << (past - 64)) - 1, blk + 192) : _mm512_setzero_si512();
		h = _mm512_mask_blend_epi16(upper, h, _mm512_permutex2var_epi16(r2, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)hi)), r3));
	}
	return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
}

enum { L_Q4_0, L_Q5_0, L_Q8_0, L_IQ4_NL };

static const long lBytes[] = {18, 22, 34, 18};
static const int lShift[] = {3, 4, 7, 7}; // log2 of each type's offset

// Blocks b0 and b1 (b1 null past the row's end) of a legacy type as
// unsigned codes.
VNNI static inline __attribute__((always_inline)) __m512i legacy_pair(int type, __m512i table, const uint8_t *b0, const uint8_t *b1) {
	switch (type) {
	case L_Q8_0: {
		const __m256i lo = _mm256_loadu_si256((const __m256i *)(b0 + 2));
		const __m256i hi = b1 ? _mm256_loadu_si256((const __m256i *)(b1 + 2)) : _mm256_set1_epi8((char)0x80);
		return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8((char)0x80));
	}
	case L_Q5_0: {
		__m512i z = nibble_pair(b0 + 6, b1 ? b1 + 6 : 0);
		uint32_t h0, h1 = 0;
		memcpy(&h0, b0 + 2, 4);
		if (b1) memcpy(&h1, b1 + 2, 4);
		return _mm512_mask_add_epi8(z, (__mmask64)h0 | (__mmask64)h1 << 32, z, _mm512_set1_epi8(16));
	}
	case L_IQ4_NL:
		return _mm512_shuffle_epi8(table, nibble_pair(b0 + 2, b1 ? b1 + 2 : 0));
	default:
		return nibble_pair(b0 + 2, b1 ? b1 + 2 : 0);
	}
}

// Legacy-type weights times n (1 or 4) Q8_0-quantized inputs (input k's
// blocks at xq + k*xqs, its scales and sums at xd, xs + k*xds). Blocks go
// eight at a time, as four pairs: the eight integer dots are summed across
// lanes together, the offset comes off as the activation blocks' sums
// shifted, and one multiply-add by the weight scales times the activation
// scales adds the group.
VNNI static inline __attribute__((always_inline)) void legacy_group(int type, __m512i table, const uint8_t *blk, int m, const int8_t *xq, long xqs, const float *xd,
                                                                    const int32_t *xs, long xds, __m256 acc[4], int n) {
	const long bs = lBytes[type];
	prefetch_span(blk, 8 * bs);
	const __mmask8 lanes = (__mmask8)((1u << m) - 1);
	const __m256 dw = m == 8 ? group_scales(blk, bs) : gather_scales(blk, bs, lanes);
	__m512i q[4];
	_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
		q[j] = 2 * j < m ? legacy_pair(type, table, blk + 2 * j * bs, 2 * j + 1 < m ? blk + (2 * j + 1) * bs : 0) : _mm512_setzero_si512();
	}
	_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
		const int8_t *x = xq + k * xqs;
		__m512i p[4];
		_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
			if (2 * j + 1 < m) {
				p[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], _mm512_loadu_si512((const void *)(x + 64 * j)));
			} else if (2 * j < m) {
				p[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(x + 64 * j))));
			} else {
				p[j] = _mm512_setzero_si512();
			}
		}
		__m256i sums = sum_pairs(p);
		sums = _mm256_sub_epi32(sums, _mm256_slli_epi32(_mm256_maskz_loadu_epi32(lanes, xs + k * xds), lShift[type]));
		const __m256 dx = _mm256_maskz_loadu_ps(lanes, xd + k * xds);
		acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, dx), acc[k]);
	}
}

// Legacy-type weights times n (1 or 4) Q8_0-quantized inputs (input k's
// blocks at xq + k*xqs, its scales and sums at xd, xs + k*xds). Blocks go
// eight at a time, as four pairs: the eight integer dots are summed across
// lanes together, the offset comes off as the activation blocks' sums
// shifted, and one multiply-add by the weight scales times the activation
// scales adds the group. Whole groups take a path with no tests of the
// group's length; a row's last, partial group the general one.
VNNI static inline __attribute__((always_inline)) void legacy512_n(int type, const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds,
                                                                   float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb, int n) {
	const long bs = lBytes[type];
	const __m512i table = iq4_levels_u8();
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nb * bs;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		long g = 0;
		for (; g + 8 <= nb; g += 8) legacy_group(type, table, row + g * bs, 8, xq + g * 32, xqs, xd + g, xs + g, xds, acc, n);
		if (g < nb) legacy_group(type, table, row + g * bs, (int)(nb - g), xq + g * 32, xqs, xd + g, xs + g, xds, acc, n);
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

#define LEGACY(name, type)                                                                                                                                    \
	VNNI void kernels_matvec_##name##_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb) {    \
		legacy512_n(type, w, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nb, 1);                                                                                \
	}                                                                                                                                                         \
	VNNI void kernels_matvec4_##name##_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, \
	                                        float *y2, float *y3, long lo, long hi, long nb) {                                                                \
		legacy512_n(type, w, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nb, 4);                                                                        \
	}

LEGACY(q4_0, L_Q4_0)
LEGACY(q5_0, L_Q5_0)
LEGACY(q8_0, L_Q8_0)
LEGACY(iq4_nl, L_IQ4_NL)

// The index vector that repeats lanes 4j, 4j+1, 4j+2, 4j+3 of its source
// four times each: the scales of pair j's four 16-element halves.
VNNI static inline __m512i lanes_4x4(int j) {
	return _mm512_setr_epi32(4 * j, 4 * j, 4 * j, 4 * j, 4 * j + 1, 4 * j + 1, 4 * j + 1, 4 * j + 1, 4 * j + 2, 4 * j + 2, 4 * j + 2, 4 * j + 2, 4 * j + 3,
	                         4 * j + 3, 4 * j + 3, 4 * j + 3);
}

// The byte mask of a pair of sub-blocks 2j and 2j+1 whose bits 2j (low
// half) and 2j+1 (high half) of the 32 bytes at hb are set, for the
// K-quants' high-bit arrays.
VNNI static inline __mmask64 high_bits(__m256i hb, int j) {
	const __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(hb), hb, 1);
	const __m512i bit = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * j)))), _mm256_set1_epi8((char)(1 << (2 * j + 1))), 1);
	return _mm512_test_epi8_mask(h, bit);
}

// The K-quant kernels take Q8_K activations (xd repeats a super-block's
// scale for its eight 32-blocks; xs holds the 32-blocks' integer sums). A
// super-block is four pairs of 32-element sub-blocks, each pair one
// register of codes. Each sub-block's integer dot (weighted by its 16-
// element scales where it has them) is exact however it is summed, and
// sum_pairs gives the eight in the lanes the AVX2 kernels' hsum8_epi32
// does; from there the float arithmetic is the AVX2 kernels', operation
// for operation, so the two sets give the same results bit for bit (the
// model oracle tests hold the CPU's sums to llama.cpp's, where another
// order can cross an activation rounding step).

// Q4_K (q5 = 0) and Q5_K (q5 = 1) for n (1 or 4) inputs: layouts and
// float arithmetic as kernels_matvec_k45_n in simd_amd64.c.
VNNI static inline __attribute__((always_inline)) void k45_512_n(const uint8_t *w, int q5, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds,
                                                                 float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m256i lowMask = _mm256_set1_epi8(0xF);
	const long sbBytes = q5 ? 176 : 144;
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * sbBytes;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * sbBytes;
			prefetch_span(blk, sbBytes);
			uint64_t sc, mn;
			k4_scales(blk + 4, &sc, &mn);
			const __m256 dsc = _mm256_mul_ps(_mm256_set1_ps(f16_at(blk)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
			const __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(f16_at(blk + 2)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn))));
			const uint8_t *qs = blk + (q5 ? 48 : 16);
			const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
			__m512i q[4];
			_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
				q[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, lowMask)), _mm256_and_si256(_mm256_srli_epi16(v, 4), lowMask), 1);
				if (q5) q[j] = _mm512_mask_add_epi8(q[j], high_bits(qh, j), q[j], _mm512_set1_epi8(16));
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m512i p[4];
				_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) p[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], _mm512_loadu_si512((const void *)(x + 64 * j)));
				const __m256 xdv = _mm256_loadu_ps(xd + k * xds + sb * 8);
				const __m256 xsv = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(xs + k * xds + sb * 8)));
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_pairs(p)), _mm256_mul_ps(dsc, xdv), acc[k]);
				acc[k] = _mm256_fnmadd_ps(dmn, _mm256_mul_ps(xdv, xsv), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

VNNI void kernels_matvec_q4_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb) {
	k45_512_n(w, 0, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nsb, 1);
}

VNNI void kernels_matvec4_q4_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	k45_512_n(w, 0, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

VNNI void kernels_matvec_q5_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb) {
	k45_512_n(w, 1, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nsb, 1);
}

VNNI void kernels_matvec4_q5_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	k45_512_n(w, 1, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

// Q6_K for n (1 or 4) inputs (layout as kernels_matvec4_q6_k_n in
// simd_amd64.c). Pair j is groups 2j and 2j+1: in each half, the low
// nibbles of ql's 64 bytes are groups 0 and 1, the high nibbles 2 and 3,
// and bits 2g of qh their top two bits. Each 16 elements have an int8
// scale, so a pair's four quarters meet four scales; the offset of 32
// comes off as 32 times the activations' four-byte sums. The float
// arithmetic is kernels_matvec4_q6_k_n's.
VNNI static inline __attribute__((always_inline)) void q6k_512_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds,
                                                                 float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m512i lowMask = _mm512_set1_epi8(0xF), three = _mm512_set1_epi8(3), c32 = _mm512_set1_epi8(32);
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * 210;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * 210;
			prefetch_span(blk, 210);
			const __m256 d = _mm256_set1_ps(f16_at(blk + 208));
			const __m512i s16 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)));
			__m512i q[4], scv[4];
			_Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
				const __m512i l = _mm512_loadu_si512((const void *)(blk + 64 * half));
				const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * half));
				const __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
				q[2 * half] = _mm512_or_si512(_mm512_and_si512(l, lowMask), _mm512_slli_epi16(_mm512_and_si512(h, three), 4));
				q[2 * half + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), lowMask), _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 4), three), 4));
			}
			_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) scv[j] = _mm512_permutexvar_epi32(lanes_4x4(j), s16);
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m512i p[4];
				_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
					const __m512i xv = _mm512_loadu_si512((const void *)(x + 64 * j));
					const __m512i dot = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], xv), _mm512_dpbusd_epi32(_mm512_setzero_si512(), c32, xv));
					p[j] = _mm512_mullo_epi32(dot, scv[j]);
				}
				const __m256 xdv = _mm256_mul_ps(d, _mm256_loadu_ps(xd + k * xds + sb * 8));
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_pairs(p)), xdv, acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

VNNI void kernels_matvec_q6_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	q6k_512_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

VNNI void kernels_matvec4_q6_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	q6k_512_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

// Q2_K (q3 = 0) and Q3_K (q3 = 1) for n (1 or 4) inputs (layouts as
// matvec_k23_n in q23k_amd64.c). Group g is bits 2·(g%4) of the low-bit
// bytes of its half, so pair j takes shifts 0 and 2, or 4 and 6, of one
// 32-byte load; Q3_K adds bit g of hmask as 4 and takes 4 off (as 4 times
// the activations' four-byte sums), Q2_K's mins meet those sums in a
// second integer sum, scaled by dmin. The float arithmetic is
// matvec_k23_n's.
VNNI static inline __attribute__((always_inline)) void k23_512_n(const uint8_t *w, int q3, const int8_t *xq, long xqs, const float *xd, long xds,
                                                                 float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m512i three = _mm512_set1_epi8(3), ones = _mm512_set1_epi8(1), c4 = _mm512_set1_epi8(4);
	const long sbBytes = q3 ? 110 : 84;
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * sbBytes;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * sbBytes;
			prefetch_span(blk, sbBytes);
			__m512i sc16, mn16 = _mm512_setzero_si512();
			if (q3) {
				sc16 = _mm512_cvtepi8_epi32(k3_scales(blk + 96));
			} else {
				const __m128i v = _mm_loadu_si128((const __m128i *)blk);
				sc16 = _mm512_cvtepu8_epi32(_mm_and_si128(v, _mm_set1_epi8(0xF)));
				mn16 = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0xF)));
			}
			const __m256 d = _mm256_set1_ps(f16_at(blk + (q3 ? 108 : 80)));
			const __m256 dmin = _mm256_set1_ps(q3 ? 0.0f : f16_at(blk + 82));
			const uint8_t *qs = blk + (q3 ? 32 : 16);
			const __m256i hm = q3 ? _mm256_loadu_si256((const __m256i *)blk) : _mm256_setzero_si256();
			__m512i q[4], scv[4], mnv[4];
			_Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * half));
				const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 2), 1);
				q[2 * half] = _mm512_and_si512(z, three);
				q[2 * half + 1] = _mm512_and_si512(_mm512_srli_epi16(z, 4), three);
			}
			_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
				if (q3) q[j] = _mm512_mask_add_epi8(q[j], high_bits(hm, j), q[j], c4);
				scv[j] = _mm512_permutexvar_epi32(lanes_4x4(j), sc16);
				mnv[j] = q3 ? _mm512_setzero_si512() : _mm512_permutexvar_epi32(lanes_4x4(j), mn16);
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m512i p[4], m[4];
				_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
					const __m512i xv = _mm512_loadu_si512((const void *)(x + 64 * j));
					__m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], xv);
					if (q3) {
						dot = _mm512_sub_epi32(dot, _mm512_dpbusd_epi32(_mm512_setzero_si512(), c4, xv));
					} else {
						m[j] = _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, xv), mnv[j]);
					}
					p[j] = _mm512_mullo_epi32(dot, scv[j]);
				}
				const __m256 xdv = _mm256_loadu_ps(xd + k * xds + sb * 8);
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_pairs(p)), _mm256_mul_ps(d, xdv), acc[k]);
				if (!q3) acc[k] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(sum_pairs(m)), _mm256_mul_ps(dmin, xdv), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

VNNI void kernels_matvec_q2_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	k23_512_n(w, 0, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

VNNI void kernels_matvec4_q2_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	k23_512_n(w, 0, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

VNNI void kernels_matvec_q3_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	k23_512_n(w, 1, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

VNNI void kernels_matvec4_q3_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	k23_512_n(w, 1, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

// F16 rows: the AVX2 kernel's dot_f16 with its two 8-lane accumulators
// as the halves of one 16-lane one (lane l of a 16-value step is what
// the AVX2 kernel adds into lane l of s0 or s1), and its tails as they
// are, so the two sets give the same sums bit for bit (the model oracle
// tests hold F16 rows to llama.cpp's order). The row is prefetched ahead
// as the quantized kernels do. (F32 has no AVX-512 kernel: its rows are
// bound by loads, not arithmetic, and the AVX2 one was faster.)
VNNI static inline float dot_f16_512(const uint16_t *row, const float *x, long cols) {
	__m512 s = _mm512_setzero_ps();
	long i = 0;
	for (; i + 16 <= cols; i += 16) {
		prefetch_span((const uint8_t *)(row + i), 32);
		s = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i))), _mm512_loadu_ps(x + i), s);
	}
	__m256 s0 = _mm512_castps512_ps256(s);
	const __m256 s1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
	for (; i + 8 <= cols; i += 8) s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i))), _mm256_loadu_ps(x + i), s0);
	float r = hsum(_mm256_add_ps(s0, s1));
	if (i + 4 <= cols) {
		r += hsum4(_mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(row + i))), _mm_loadu_ps(x + i)));
		i += 4;
	}
	for (; i < cols; i++) r += _cvtsh_ss(row[i]) * x[i];
	return r;
}

VNNI void kernels_matvec_f16_vnni(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) y[r] = dot_f16_512(w + r * cols, x, cols);
}

VNNI void kernels_matvec4_f16_vnni(const uint16_t *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) {
		const uint16_t *row = w + r * cols;
		y0[r] = dot_f16_512(row, x0, cols);
		y1[r] = dot_f16_512(row, x1, cols);
		y2[r] = dot_f16_512(row, x2, cols);
		y3[r] = dot_f16_512(row, x3, cols);
	}
}

// BF16 weights times an input already rounded to bf16 (so its conversion
// to bf16 pairs is exact), with vdpbf16ps: 32 values per step. Rows go
// four at a time to share each step's converted input; every row keeps
// its own accumulator and sequence, so a row's result does not depend on
// which rows it is grouped with.
BF16 static inline __attribute__((always_inline)) void bf16_rows(const uint16_t *w, const float *x, float *y, long r, int nr, long cols) {
	__m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	long c = 0;
	for (; c + 32 <= cols; c += 32) {
		const __m512bh xv = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 16), _mm512_loadu_ps(x + c));
		for (int i = 0; i < nr; i++) {
			prefetch_span((const uint8_t *)(w + (r + i) * cols + c), 64);
			acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_loadu_si512((const void *)(w + (r + i) * cols + c)), xv);
		}
	}
	if (c < cols) {
		const long rem = cols - c;
		const __mmask32 m = (__mmask32)((1ull << rem) - 1);
		const __m512bh xv = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps((__mmask16)(m >> 16), x + c + 16), _mm512_maskz_loadu_ps((__mmask16)m, x + c));
		for (int i = 0; i < nr; i++) acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_maskz_loadu_epi16(m, w + (r + i) * cols + c), xv);
	}
	for (int i = 0; i < nr; i++) y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

BF16 void kernels_matvec_bf16_512(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols) {
	long r = lo;
	for (; r + 4 <= hi; r += 4) bf16_rows(w, x, y, r, 4, cols);
	for (; r < hi; r++) bf16_rows(w, x, y, r, 1, cols);
}
