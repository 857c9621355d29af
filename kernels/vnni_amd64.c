//go:build cgo

// AVX-512 VNNI kernels: Q8_0 weights times Q8_0-quantized activations,
// one input or four. Called only when the CPU has AVX2+FMA+F16C and
// AVX-512 F/BW/VL/VNNI (kernels_vnni_supported).

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

int kernels_vnni_supported(void) {
	__builtin_cpu_init();
	return kernels_supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// Q8_0 with AVX-512 VNNI: two blocks per step in one 512-bit register,
// vpdpbusd for the byte dot products (|q| against x carrying q's sign, as
// it multiplies unsigned by signed bytes), each half scaled by its own
// block's weight and activation scales into a float accumulator. The
// integer dots are exact; only the float sums' order differs from the
// AVX2 kernel (within the Go set's 1e-5, as every C set). For a batch
// (n = 4) the weights are loaded once and each input gets the single
// input's exact sequence of operations, so DoBatch equals Do.
//
// A row with an odd number of blocks ends in one 256-bit step, in
// intrinsics like the rest. A plain C loop there is not safe: GCC 12 at
// -O2 vectorizes a signed-byte dot product in a function built for VNNI
// into vpdpbusd, which reads one side as unsigned, and so got every
// negative weight of that block wrong.
VNNI static inline __attribute__((always_inline)) void q8_0_vnni_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds,
                                                                   float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb, int n) {
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nb * 34;
		__m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
		long b = 0;
		for (; b + 2 <= nb; b += 2) {
			const uint8_t *b0 = row + b * 34, *b1 = b0 + 34;
			uint16_t h0, h1;
			memcpy(&h0, b0, 2);
			memcpy(&h1, b1, 2);
			const float d0 = _cvtsh_ss(h0), d1 = _cvtsh_ss(h1);
			const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2))),
			                                     _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
			const __m512i ua = _mm512_abs_epi8(q);
			const __mmask64 neg = _mm512_movepi8_mask(q);
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const __m512i x = _mm512_loadu_si512((const void *)(xq + k * xqs + b * 32));
				const __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
				const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ua, sx);
				const float *dx = xd + k * xds + b;
				const __m512 s = _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castps_si512(_mm512_set1_ps(d0 * dx[0])),
				                                                        _mm256_castps_si256(_mm256_set1_ps(d1 * dx[1])), 1));
				acc[k] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p), acc[k]);
			}
		}
		float sum[4];
		for (int k = 0; k < n; k++) sum[k] = _mm512_reduce_add_ps(acc[k]);
		if (b < nb) {
			const uint8_t *blk = row + b * 34;
			uint16_t h;
			memcpy(&h, blk, 2);
			const float d = _cvtsh_ss(h);
			const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
			const __m256i ua = _mm256_abs_epi8(q);
			for (int k = 0; k < n; k++) {
				const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + k * xqs + b * 32));
				const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ua, _mm256_sign_epi8(x, q));
				sum[k] += (float)_mm512_reduce_add_epi32(_mm512_zextsi256_si512(p)) * d * xd[k * xds + b];
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = sum[k];
	}
}

VNNI void kernels_matvec_q8_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nb) {
	q8_0_vnni_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nb, 1);
}

VNNI void kernels_matvec4_q8_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	q8_0_vnni_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}
