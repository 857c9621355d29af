//go:build cgo

// AVX-512 VNNI kernels: Q8_0 weights times Q8_0-quantized activations,
// one input or four. Called only when the CPU has AVX2+FMA+F16C and
// AVX-512 F/BW/VL/VNNI (kernels_vnni_supported).

#include <immintrin.h>
#include <stdint.h>

#include "simd_amd64.h"

int kernels_vnni_supported(void) {
	__builtin_cpu_init();
	return kernels_supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// The AVX2 legacy kernel's arithmetic for Q8_0 (legacy_n in
// simd_amd64.c), with one vpdpbusd per block where AVX2 needs maddubs and
// madd: blocks go eight at a time, each block's integer dot (|q| against
// x carrying q's sign, as vpdpbusd multiplies unsigned by signed bytes)
// stays in vector lanes, the eight are summed across lanes together and
// one multiply-add by weight times activation scales adds the group. The
// integer dots are exact on both paths (|q| <= 128 and |x| <= 127 keep
// maddubs from saturating), and the float steps are the same, so results
// equal the AVX2 kernel's bit for bit, and a batch (n = 4) gives what
// single inputs (n = 1) do.
//
// A row whose width is not a multiple of eight blocks ends in a group
// with lanes masked off, in vector code like the rest. A plain C loop
// over the leftover blocks is not safe here: GCC 12 at -O2 vectorizes a
// signed-byte dot product in a function built for VNNI into vpdpbusd,
// which reads one side as unsigned, and so got every negative weight of
// those blocks wrong.
VNNI static inline __attribute__((always_inline)) void q8_0_vnni_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds,
                                                                   float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb, int n) {
	float *ys[4] = {y0, y1, y2, y3};
	const __m256i zero = _mm256_setzero_si256();
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nb * 34;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long g = 0; g < nb; g += 8) {
			const int m = nb - g < 8 ? (int)(nb - g) : 8;
			const __m256 dw = block_scales(row + g * 34, 34, m);
			const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
			__m256i q[8], sign[8];
			_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
				sign[j] = j < m ? _mm256_loadu_si256((const __m256i *)(row + (g + j) * 34 + 2)) : zero;
				q[j] = _mm256_abs_epi8(sign[j]);
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + g * 32;
				__m256i p[8];
				_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
					p[j] = j < m ? _mm256_dpbusd_epi32(zero, q[j], _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x + 32 * j)), sign[j])) : zero;
				}
				const __m256 dx = _mm256_maskload_ps(xd + k * xds + g, lanes);
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(p)), _mm256_mul_ps(dw, dx), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

VNNI void kernels_matvec_q8_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nb) {
	q8_0_vnni_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nb, 1);
}

VNNI void kernels_matvec4_q8_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	q8_0_vnni_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}
