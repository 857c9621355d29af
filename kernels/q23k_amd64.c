//go:build cgo

// AVX2 kernels of Q2_K and Q3_K weights times Q8_K activations (layouts in
// quant/kquants23.go), one input and four.

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

AVX2 static inline float k23_f16(const uint8_t *p) {
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

// Q2_K (q3 = 0) and Q3_K (q3 = 1) for n (1 or 4) inputs, input k's
// quants at xq + k*xqs and block scales at xd + k*xds. Group g of a
// super-block (32 elements, activation block g) is bits 2·(g%4) of the
// 32 bytes of low bits for its half, g/4; Q3_K adds bit g of hmask as 4
// and takes 4 off every element, Q2_K takes each half's min off. Each
// half of 16 has a scale (and for Q2_K a min), so the integer dots are
// weighted in 16-bit lanes before the eight groups are summed across
// lanes and meet d·xd as a vector.
AVX2 static inline __attribute__((always_inline)) void matvec_k23_n(const uint8_t *w, int q3, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
	const long sbBytes = q3 ? 110 : 84;
	float *ys[4] = {y0, y1, y2, y3};
	__m256i pick[8];
	for (int g = 0; g < 8; g++) pick[g] = _mm256_set_m128i(_mm_set1_epi16((short)((2 * g + 1) << 8 | 0x80)), _mm_set1_epi16((short)((2 * g) << 8 | 0x80)));
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * sbBytes;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * sbBytes;
			prefetch_span(blk, sbBytes);
			// The sixteen scales (and Q2_K's mins) as bytes in both lanes;
			// group g's pair is shuffled into the high bytes of 16-bit
			// lanes (sc[2g] in the low lane, sc[2g+1] in the high) and
			// shifted down with its sign.
			__m256i scb, mnb = _mm256_setzero_si256();
			if (q3) {
				scb = _mm256_broadcastsi128_si256(k3_scales(blk + 96));
			} else {
				const __m128i v = _mm_loadu_si128((const __m128i *)blk);
				scb = _mm256_broadcastsi128_si256(_mm_and_si128(v, _mm_set1_epi8(0xF)));
				mnb = _mm256_broadcastsi128_si256(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0xF)));
			}
			const __m256 d = _mm256_set1_ps(k23_f16(blk + (q3 ? 108 : 80)));
			const __m256 dmin = _mm256_set1_ps(q3 ? 0.0f : k23_f16(blk + 82));
			const uint8_t *qs = blk + (q3 ? 32 : 16);
			const __m256i hm = q3 ? _mm256_loadu_si256((const __m256i *)blk) : _mm256_setzero_si256();
			__m256i q[8], scale[8], mins[8];
			_Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * half));
				_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
					const int g = 4 * half + j;
					q[g] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), three);
					if (q3) q[g] = _mm256_or_si256(q[g], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, g), one), 2));
					scale[g] = _mm256_srai_epi16(_mm256_shuffle_epi8(scb, pick[g]), 8);
					mins[g] = q3 ? _mm256_setzero_si256() : _mm256_srai_epi16(_mm256_shuffle_epi8(mnb, pick[g]), 8);
				}
			}
			for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m256i p[8], m[8];
				_Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
					const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * g));
					const __m256i bsum = _mm256_maddubs_epi16(one, xv);
					p[g] = _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), scale[g]);
					if (q3) {
						p[g] = _mm256_sub_epi32(p[g], _mm256_slli_epi32(_mm256_madd_epi16(bsum, scale[g]), 2));
					} else {
						m[g] = _mm256_madd_epi16(bsum, mins[g]);
					}
				}
				const __m256 xdv = _mm256_loadu_ps(xd + k * xds + sb * 8);
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(p)), _mm256_mul_ps(d, xdv), acc[k]);
				if (!q3) acc[k] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(m)), _mm256_mul_ps(dmin, xdv), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec_q2_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	matvec_k23_n(w, 0, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

AVX2 void kernels_matvec4_q2_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	matvec_k23_n(w, 0, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

AVX2 void kernels_matvec_q3_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	matvec_k23_n(w, 1, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

AVX2 void kernels_matvec4_q3_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	matvec_k23_n(w, 1, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}
