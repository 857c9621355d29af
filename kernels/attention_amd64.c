//go:build cgo

// AVX2 attention over a KV cache and rotary position embedding.

#include <immintrin.h>

#include "simd_amd64.h"

// Keys and values are float32 or f16 (half set: IEEE half bits); the
// loads below convert f16 as they read it, so an f16 cache costs two
// bytes a value in memory and none of the arithmetic changes.
#define KV_AT(p, half, i) ((half) ? (const void *)((const uint16_t *)(p) + (i)) : (const void *)((const float *)(p) + (i)))

AVX2 static inline __attribute__((always_inline)) __m256 kv_load8(const void *p, const int half) {
	return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)) : _mm256_loadu_ps((const float *)p);
}

AVX2 static inline __attribute__((always_inline)) __m128 kv_load4(const void *p, const int half) {
	return half ? _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)p)) : _mm_loadu_ps((const float *)p);
}

AVX2 static inline __attribute__((always_inline)) float kv_at(const void *p, long i, const int half) {
	return half ? _cvtsh_ss(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

// kv_dot is dot_f32 of q with a key row of either type, in its order.
AVX2 static inline __attribute__((always_inline)) float kv_dot(const float *a, const void *b, int n, const int half) {
	if (!half) return dot_f32(a, (const float *)b, n);
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(KV_AT(b, 1, i), 1), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), kv_load8(KV_AT(b, 1, i + 8), 1), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), kv_load8(KV_AT(b, 1, i + 16), 1), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), kv_load8(KV_AT(b, 1, i + 24), 1), s3);
	}
	for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), kv_load8(KV_AT(b, 1, i), 1), s0);
	float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	if (i + 4 <= n) {
		s += hsum4(_mm_mul_ps(_mm_loadu_ps(a + i), kv_load4(KV_AT(b, 1, i), 1)));
		i += 4;
	}
	for (; i < n; i++) s += a[i] * kv_at(b, i, 1);
	return s;
}

// attend_body: out (hd floats) = Σ_p softmax_p(scale · q·k_p) · v_p over
// the positions of nruns runs of rows: run r is rows runs[2r] ..
// runs[2r]+runs[2r+1], whose key and value rows start stride elements
// apart in k and v; scores holds a float of scratch per position. With
// round set the weights are rounded to f16 before the product with v
// (llama.cpp's f16 V cache). Each output lane adds its positions in position order
// whatever the runs, so the same keys in other runs give the same bits.
AVX2 static inline __attribute__((always_inline)) void attend_body(float *out, const float *q, const void *k, const void *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores, const int half, int round) {
	long span = 0;
	for (long r = 0; r < nruns; r++) {
		for (long j = 0; j < runs[2 * r + 1]; j++) scores[span++] = kv_dot(q, KV_AT(k, half, (runs[2 * r] + j) * stride), (int)hd, half) * scale;
	}
	kernels_softmax(scores, span);
	if (round) kernels_round_f16(scores, scores, span);
	long i = 0;
	for (; i + 32 <= hd; i += 32) {
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			for (long j = 0; j < runs[2 * r + 1]; j++, p++) {
				const long e = (runs[2 * r] + j) * stride + i;
				const __m256 s = _mm256_set1_ps(scores[p]);
				a0 = _mm256_fmadd_ps(s, kv_load8(KV_AT(v, half, e), half), a0);
				a1 = _mm256_fmadd_ps(s, kv_load8(KV_AT(v, half, e + 8), half), a1);
				a2 = _mm256_fmadd_ps(s, kv_load8(KV_AT(v, half, e + 16), half), a2);
				a3 = _mm256_fmadd_ps(s, kv_load8(KV_AT(v, half, e + 24), half), a3);
			}
		}
		_mm256_storeu_ps(out + i, a0);
		_mm256_storeu_ps(out + i + 8, a1);
		_mm256_storeu_ps(out + i + 16, a2);
		_mm256_storeu_ps(out + i + 24, a3);
	}
	// Narrower chunks: even positions go to one accumulator, odd ones to
	// another, so the adds of successive positions do not wait on each
	// other. A run starting at an odd position first adds one to a1.
	for (; i + 8 <= hd; i += 8) {
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			const long e0 = runs[2 * r] * stride + i, n = runs[2 * r + 1];
			long j = 0;
			if ((p & 1) && j < n) {
				a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p]), kv_load8(KV_AT(v, half, e0), half), a1);
				j++, p++;
			}
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p]), kv_load8(KV_AT(v, half, e0 + j * stride), half), a0);
				a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p + 1]), kv_load8(KV_AT(v, half, e0 + (j + 1) * stride), half), a1);
			}
			if (j < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p++]), kv_load8(KV_AT(v, half, e0 + j * stride), half), a0);
		}
		_mm256_storeu_ps(out + i, _mm256_add_ps(a0, a1));
	}
	for (; i + 4 <= hd; i += 4) {
		__m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			const long e0 = runs[2 * r] * stride + i, n = runs[2 * r + 1];
			long j = 0;
			if ((p & 1) && j < n) {
				a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p]), kv_load4(KV_AT(v, half, e0), half), a1);
				j++, p++;
			}
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p]), kv_load4(KV_AT(v, half, e0 + j * stride), half), a0);
				a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p + 1]), kv_load4(KV_AT(v, half, e0 + (j + 1) * stride), half), a1);
			}
			if (j < n) a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p++]), kv_load4(KV_AT(v, half, e0 + j * stride), half), a0);
		}
		_mm_storeu_ps(out + i, _mm_add_ps(a0, a1));
	}
	for (; i < hd; i++) {
		float a = 0;
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			for (long j = 0; j < runs[2 * r + 1]; j++) a += scores[p++] * kv_at(v, (runs[2 * r] + j) * stride + i, half);
		}
		out[i] = a;
	}
}

// kernels_attend is attend_body over float32 keys and values.
AVX2 void kernels_attend(float *out, const float *q, const float *k, const float *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores, int round) {
	attend_body(out, q, k, v, stride, hd, runs, nruns, scale, scores, 0, round);
}

// kernels_attend_f16 is attend_body over f16 keys and values.
AVX2 void kernels_attend_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores) {
	attend_body(out, q, k, v, stride, hd, runs, nruns, scale, scores, 1, 1);
}

// kernels_gather_f16 converts the hd f16 values at each row of the runs
// (rows stride apart in src) to float32, packed hd apart in dst.
AVX2 void kernels_gather_f16(float *dst, const uint16_t *src, long stride, long hd, const long *runs, long nruns) {
	for (long r = 0; r < nruns; r++) {
		for (long j = 0; j < runs[2 * r + 1]; j++, dst += hd) {
			const uint16_t *row = src + (runs[2 * r] + j) * stride;
			long i = 0;
			for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i))));
			for (; i < hd; i++) dst[i] = _cvtsh_ss(row[i]);
		}
	}
}

// kernels_rope rotates the first rd dimensions of each hd-wide head of x
// (n floats) by the (cos, sin) pairs in cs: pair i is (2i, 2i+1), or with
// neox (i, i + rd/2).
AVX2 void kernels_rope(float *x, const float *cs, long n, long hd, long rd, int neox) {
	const long half = rd / 2;
	for (long h = 0; h + hd <= n; h += hd) {
		float *head = x + h;
		long i = 0;
		if (!neox) {
			for (; i + 8 <= rd; i += 8) {
				const __m256 v = _mm256_loadu_ps(head + i), c = _mm256_loadu_ps(cs + i);
				const __m256 swapped = _mm256_permute_ps(v, 0xB1);
				// even lanes a·cos − b·sin, odd lanes b·cos + a·sin
				_mm256_storeu_ps(head + i, _mm256_fmaddsub_ps(v, _mm256_moveldup_ps(c), _mm256_mul_ps(swapped, _mm256_movehdup_ps(c))));
			}
			for (; i + 2 <= rd; i += 2) {
				const float a = head[i], b = head[i + 1], cos = cs[i], sin = cs[i + 1];
				head[i] = a * cos - b * sin;
				head[i + 1] = a * sin + b * cos;
			}
			continue;
		}
		for (; i + 8 <= half; i += 8) {
			const __m256 c0 = _mm256_loadu_ps(cs + 2 * i), c1 = _mm256_loadu_ps(cs + 2 * i + 8);
			// Deinterleave (cos, sin) pairs; the shuffles work per 128-bit
			// lane, the permutes put the 64-bit groups back in order.
			const __m256 cos = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(c0, c1, 0x88)), 0xD8));
			const __m256 sin = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(c0, c1, 0xDD)), 0xD8));
			const __m256 a = _mm256_loadu_ps(head + i), b = _mm256_loadu_ps(head + i + half);
			_mm256_storeu_ps(head + i, _mm256_fmsub_ps(a, cos, _mm256_mul_ps(b, sin)));
			_mm256_storeu_ps(head + i + half, _mm256_fmadd_ps(a, sin, _mm256_mul_ps(b, cos)));
		}
		for (; i < half; i++) {
			const float a = head[i], b = head[i + half], cos = cs[2 * i], sin = cs[2 * i + 1];
			head[i] = a * cos - b * sin;
			head[i + half] = a * sin + b * cos;
		}
	}
}

// kernels_gather_q8_0 widens values off .. off+hd-1 of each row of the
// runs (rows of Q8_0 blocks, row_bytes apart in src) to float32, packed
// hd apart in dst: int8 times its block's f16 scale, as ggml dequantizes.
AVX2 void kernels_gather_q8_0(float *dst, const uint8_t *src, long row_bytes, long off, long hd, const long *runs, long nruns) {
	for (long r = 0; r < nruns; r++) {
		for (long j = 0; j < runs[2 * r + 1]; j++, dst += hd) {
			const uint8_t *row = src + (runs[2 * r] + j) * row_bytes;
			long i = 0;
			while (i < hd) {
				const long e = off + i, in = e % 32;
				const uint8_t *blk = row + e / 32 * 34;
				uint16_t h;
				memcpy(&h, blk, 2);
				const float d = _cvtsh_ss(h);
				const __m256 dv = _mm256_set1_ps(d);
				long k = in;
				for (; k + 8 <= 32 && i + 8 <= hd; k += 8, i += 8) {
					const __m128i q = _mm_loadl_epi64((const __m128i *)(blk + 2 + k));
					_mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), dv));
				}
				for (; k < 32 && i < hd; k++, i++) dst[i] = (float)(int8_t)blk[2 + k] * d;
			}
		}
	}
}
