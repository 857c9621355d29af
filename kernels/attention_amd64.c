//go:build cgo

// AVX2 attention over a KV cache and rotary position embedding.

#include <immintrin.h>

#include "simd_amd64.h"

// out (hd floats) = Σ_p softmax_p(scale · q·k_p) · v_p over the positions
// of nruns runs of rows: run r is rows runs[2r] .. runs[2r]+runs[2r+1],
// whose key and value rows start at k + row*stride and v + row*stride;
// scores holds a float of scratch per position. The weights are rounded
// to f16 before the product with v (llama.cpp's f16 V cache). Each
// output lane adds its positions in position order whatever the runs,
// so the same keys in other runs give the same bits.
AVX2 void kernels_attend(float *out, const float *q, const float *k, const float *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores) {
	long span = 0;
	for (long r = 0; r < nruns; r++) {
		const float *kr = k + runs[2 * r] * stride;
		for (long j = 0; j < runs[2 * r + 1]; j++) scores[span++] = dot_f32(q, kr + j * stride, (int)hd) * scale;
	}
	kernels_softmax(scores, span);
	kernels_round_f16(scores, scores, span);
	long i = 0;
	for (; i + 32 <= hd; i += 32) {
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			const float *vr = v + runs[2 * r] * stride + i;
			for (long j = 0; j < runs[2 * r + 1]; j++, p++) {
				const float *vp = vr + j * stride;
				const __m256 s = _mm256_set1_ps(scores[p]);
				a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(vp), a0);
				a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(vp + 8), a1);
				a2 = _mm256_fmadd_ps(s, _mm256_loadu_ps(vp + 16), a2);
				a3 = _mm256_fmadd_ps(s, _mm256_loadu_ps(vp + 24), a3);
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
			const float *vr = v + runs[2 * r] * stride + i;
			const long n = runs[2 * r + 1];
			long j = 0;
			if ((p & 1) && j < n) a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p++]), _mm256_loadu_ps(vr + j++ * stride), a1);
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p]), _mm256_loadu_ps(vr + j * stride), a0);
				a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p + 1]), _mm256_loadu_ps(vr + (j + 1) * stride), a1);
			}
			if (j < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p++]), _mm256_loadu_ps(vr + j * stride), a0);
		}
		_mm256_storeu_ps(out + i, _mm256_add_ps(a0, a1));
	}
	for (; i + 4 <= hd; i += 4) {
		__m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			const float *vr = v + runs[2 * r] * stride + i;
			const long n = runs[2 * r + 1];
			long j = 0;
			if ((p & 1) && j < n) a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p++]), _mm_loadu_ps(vr + j++ * stride), a1);
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p]), _mm_loadu_ps(vr + j * stride), a0);
				a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p + 1]), _mm_loadu_ps(vr + (j + 1) * stride), a1);
			}
			if (j < n) a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p++]), _mm_loadu_ps(vr + j * stride), a0);
		}
		_mm_storeu_ps(out + i, _mm_add_ps(a0, a1));
	}
	for (; i < hd; i++) {
		float a = 0;
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			const float *vr = v + runs[2 * r] * stride + i;
			for (long j = 0; j < runs[2 * r + 1]; j++) a += scores[p++] * vr[j * stride];
		}
		out[i] = a;
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
