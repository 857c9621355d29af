//go:build cgo

// AVX2 kernels of BERT's element-wise ops: GELU through the f16 table
// (gelu.go) and LayerNorm with float64 sums, as their Go versions.

#include <immintrin.h>
#include <stdint.h>

#include "simd_amd64.h"

// x = GELU(x): each value rounded to f16 (nearest even, as F32ToF16),
// looked up in tab (65536 f16 results, then padding: the gather reads 4
// bytes), widened back; 0 at or below -10, x itself at or above 10.
AVX2 void kernels_gelu(float *x, long n, const uint16_t *tab) {
	const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		const __m256 v = _mm256_loadu_ps(x + i);
		const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
		const __m256i g = _mm256_and_si256(_mm256_i32gather_epi32((const int *)tab, h, 2), _mm256_set1_epi32(0xFFFF));
		const __m128i g16 = _mm_packus_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
		__m256 r = _mm256_cvtph_ps(g16);
		r = _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, hi, _CMP_GE_OQ));
		r = _mm256_andnot_ps(_mm256_cmp_ps(v, lo, _CMP_LE_OQ), r);
		_mm256_storeu_ps(x + i, r);
	}
	for (; i < n; i++) {
		const float v = x[i];
		if (v <= -10.0f) x[i] = 0;
		else if (v < 10.0f) x[i] = _cvtsh_ss(tab[_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT)]);
	}
}

AVX2 static inline double hsum_pd(__m256d v) {
	const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
	return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// out = (x - mean)/sqrt(var + eps) · w + bias over n values, w and bias
// optional (NULL), mean and variance summed in float64 four lanes wide.
// out may be x.
AVX2 void kernels_layernorm(float *out, const float *x, const float *w, const float *bias, long n, float eps) {
	__m256d s = _mm256_setzero_pd();
	long i = 0;
	for (; i + 4 <= n; i += 4) s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
	double sum = hsum_pd(s);
	for (; i < n; i++) sum += x[i];
	const double mean = sum / (double)n;
	const __m256d m = _mm256_set1_pd(mean);
	__m256d q = _mm256_setzero_pd();
	for (i = 0; i + 4 <= n; i += 4) {
		const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
		q = _mm256_add_pd(q, _mm256_mul_pd(d, d));
	}
	double ss = hsum_pd(q);
	for (; i < n; i++) ss += ((double)x[i] - mean) * ((double)x[i] - mean);
	const double inv = 1.0 / __builtin_sqrt(ss / (double)n + (double)eps);
	const __m256d iv = _mm256_set1_pd(inv);
	for (i = 0; i + 4 <= n; i += 4) {
		__m128 y = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m), iv));
		if (w) y = _mm_mul_ps(y, _mm_loadu_ps(w + i));
		if (bias) y = _mm_add_ps(y, _mm_loadu_ps(bias + i));
		_mm_storeu_ps(out + i, y);
	}
	for (; i < n; i++) {
		float y = (float)(((double)x[i] - mean) * inv);
		if (w) y *= w[i];
		if (bias) y += bias[i];
		out[i] = y;
	}
}
