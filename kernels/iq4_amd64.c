//go:build cgo

// AVX2 kernels of the non-linear 4-bit types IQ4_NL and IQ4_XS (layouts
// in quant/iquants.go). A weight's 4-bit code picks one of 16 int8
// levels: _mm256_shuffle_epi8 looks up 32 codes at once in the table held
// in both 128-bit lanes. The levels are signed, so they enter maddubs
// (unsigned times signed) as |level|, their signs moved onto the
// activations; |level| and |x| are at most 127, so a pair's sum stays
// below int16's saturation (2·127·127 < 32767).

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

AVX2 static inline __m256i iq4_table(void) {
	return _mm256_broadcastsi128_si256(_mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
}

// The 32 levels of one 32-element block from its 16 code bytes at qs, in
// element order (byte j: element j in the low nibble, j+16 in the high).
AVX2 static inline __m256i iq4_levels(__m256i table, const uint8_t *qs) {
	const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
	const __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0xF));
	return _mm256_shuffle_epi8(table, codes);
}

AVX2 static inline float iq4_d(const uint8_t *p) {
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

// IQ4_NL weights (18-byte blocks: f16 d, 16 code bytes) times n (1 or 4)
// Q8_0-quantized inputs (input k's blocks at xq + k*xqs, scales at
// xd + k*xds), as legacy_n in simd_amd64.c takes Q8_0: blocks go eight at
// a time, their integer dots summed across lanes together, then one
// multiply-add by the weight scales times the activation scales. A weight
// block is looked up once for the n inputs, and each input's arithmetic is
// the same for n = 1 and 4, so a batch gives what single inputs do.
AVX2 static inline __attribute__((always_inline)) void iq4nl_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds,
                                                               float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb, int n) {
	const __m256i table = iq4_table(), ones = _mm256_set1_epi16(1);
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nb * 18;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long g = 0; g < nb; g += 8) {
			const int m = nb - g < 8 ? (int)(nb - g) : 8;
			prefetch_span(row + g * 18, 8 * 18);
			const __m256 dw = block_scales(row + g * 18, 18, m);
			const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
			__m256i q[8], sign[8];
			_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
				sign[j] = j < m ? iq4_levels(table, row + (g + j) * 18 + 2) : _mm256_setzero_si256();
				q[j] = _mm256_abs_epi8(sign[j]);
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + g * 32;
				__m256i p[8];
				_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
					p[j] = j < m ? _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x + 32 * j)), sign[j])), ones)
					             : _mm256_setzero_si256();
				}
				const __m256 dx = _mm256_maskload_ps(xd + k * xds + g, lanes);
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(p)), _mm256_mul_ps(dw, dx), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec_iq4_nl(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nb) {
	iq4nl_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nb, 1);
}

AVX2 void kernels_matvec4_iq4_nl(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	iq4nl_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}

// IQ4_XS weights (136-byte super-blocks: f16 d, scales_h, scales_l[4],
// 128 code bytes) times n (1 or 4) Q8_K-quantized inputs (one scale per
// super-block, repeated for each of its eight 32-blocks in xd). Each
// sub-block's pair sums meet its scale ls−32 in madd, so a super-block's
// products add up in integer lanes, as in ggml's x86 kernel; one
// multiply-add by d times the activation scale per super-block and input.
AVX2 static inline __attribute__((always_inline)) void iq4xs_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds,
                                                               float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m256i table = iq4_table();
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * 136;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * 136;
			prefetch_span(blk, 136);
			uint16_t h;
			memcpy(&h, blk + 2, 2);
			const float d = iq4_d(blk);
			__m256i q[8], sign[8], scale[8];
			_Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
				sign[s] = iq4_levels(table, blk + 8 + 16 * s);
				q[s] = _mm256_abs_epi8(sign[s]);
				const int ls = ((blk[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (((h >> (2 * s)) & 3) << 4);
				scale[s] = _mm256_set1_epi16((short)(ls - 32));
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m256i sum = _mm256_setzero_si256();
				_Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) {
					const __m256i xv = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x + 32 * s)), sign[s]);
					sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[s], xv), scale[s]));
				}
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * xd[k * xds + sb * 8]), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec_iq4_xs(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	iq4xs_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

AVX2 void kernels_matvec4_iq4_xs(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	iq4xs_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}
