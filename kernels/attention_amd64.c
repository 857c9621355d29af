//go:build cgo

// AVX2 attention over a KV cache and rotary position embedding.

#include <immintrin.h>
#include <math.h>

#include "simd_amd64.h"

// kernels_attend: out (hd floats) = Σ_p softmax_p(scale · q·k_p) · v_p over
// the positions of nruns runs of rows: run r is rows runs[2r] ..
// runs[2r]+runs[2r+1], whose key and value rows start stride elements
// apart in k and v; scores holds a float of scratch per position. With
// round set the weights are rounded to f16 before the product with v
// (llama.cpp's f16 V cache). Each output lane adds its positions in position order
// whatever the runs, so the same keys in other runs give the same bits.
AVX2 void kernels_attend(float *out, const float *q, const float *k, const float *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores, int round) {
	long span = 0;
	for (long r = 0; r < nruns; r++) {
		for (long j = 0; j < runs[2 * r + 1]; j++) scores[span++] = dot_f32(q, k + (runs[2 * r] + j) * stride, (int)hd) * scale;
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
				a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(v + e), a0);
				a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(v + e + 8), a1);
				a2 = _mm256_fmadd_ps(s, _mm256_loadu_ps(v + e + 16), a2);
				a3 = _mm256_fmadd_ps(s, _mm256_loadu_ps(v + e + 24), a3);
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
				a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p]), _mm256_loadu_ps(v + e0), a1);
				j++, p++;
			}
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p]), _mm256_loadu_ps(v + e0 + j * stride), a0);
				a1 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p + 1]), _mm256_loadu_ps(v + e0 + (j + 1) * stride), a1);
			}
			if (j < n) a0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[p++]), _mm256_loadu_ps(v + e0 + j * stride), a0);
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
				a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p]), _mm_loadu_ps(v + e0), a1);
				j++, p++;
			}
			for (; j + 2 <= n; j += 2, p += 2) {
				a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p]), _mm_loadu_ps(v + e0 + j * stride), a0);
				a1 = _mm_fmadd_ps(_mm_set1_ps(scores[p + 1]), _mm_loadu_ps(v + e0 + (j + 1) * stride), a1);
			}
			if (j < n) a0 = _mm_fmadd_ps(_mm_set1_ps(scores[p++]), _mm_loadu_ps(v + e0 + j * stride), a0);
		}
		_mm_storeu_ps(out + i, _mm_add_ps(a0, a1));
	}
	for (; i < hd; i++) {
		float a = 0;
		long p = 0;
		for (long r = 0; r < nruns; r++) {
			for (long j = 0; j < runs[2 * r + 1]; j++) a += scores[p++] * v[(runs[2 * r] + j) * stride + i];
		}
		out[i] = a;
	}
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

// flash_widen converts hd f16 values at src to float32 at dst, zero to
// pad (a multiple of 8) floats.
AVX2 static inline __attribute__((always_inline)) void flash_widen(float *dst, const uint16_t *src, long hd, long pad) {
	long i = 0;
	for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
	for (; i < hd; i++) dst[i] = _cvtsh_ss(src[i]);
	for (; i < pad; i++) dst[i] = 0;
}

// tile_rows is a block's key or value rows as a tile kernel reads them:
// widened to float32, pad apart from f, or (h) the cache's f16 rows in
// place, converted as read (exactly: the same values either way).
typedef struct {
	const float *f;
	const uint16_t *const *h;
	long pad;
} tile_rows;

// row8 is values d..d+7 of row t of r.
AVX2 static inline __attribute__((always_inline)) __m256 row8(tile_rows r, long t, long d, const int half) {
	return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r.h[t] + d))) : _mm256_loadu_ps(r.f + t * r.pad + d);
}

// flash_scores8 returns the dots of q (pad floats) with rows t0..t0+7 of
// r, a lane a key: each added in dimension order per lane and then across
// its lanes by one tree.
AVX2 static inline __attribute__((always_inline)) __m256 flash_scores8(const float *q, tile_rows r, long t0, long pad, const int half) {
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	for (long d = 0; d < pad; d += 8) {
		const __m256 qv = _mm256_loadu_ps(q + d);
		a0 = _mm256_fmadd_ps(qv, row8(r, t0, d, half), a0);
		a1 = _mm256_fmadd_ps(qv, row8(r, t0 + 1, d, half), a1);
		a2 = _mm256_fmadd_ps(qv, row8(r, t0 + 2, d, half), a2);
		a3 = _mm256_fmadd_ps(qv, row8(r, t0 + 3, d, half), a3);
		a4 = _mm256_fmadd_ps(qv, row8(r, t0 + 4, d, half), a4);
		a5 = _mm256_fmadd_ps(qv, row8(r, t0 + 5, d, half), a5);
		a6 = _mm256_fmadd_ps(qv, row8(r, t0 + 6, d, half), a6);
		a7 = _mm256_fmadd_ps(qv, row8(r, t0 + 7, d, half), a7);
	}
	const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
	const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
	return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

// flash_av adds Σ_t p[t]·v_t to acc (w vectors, from dimension d0) over
// rows 0..n-1 of r, after scaling acc by c. A narrow head (w <= 6) keeps
// two chains a vector, even and odd positions, added at the end, so
// successive positions do not wait on each other's adds.
AVX2 static inline __attribute__((always_inline)) void flash_av(float *acc, const float *p, tile_rows r, long d0, long n, float c, const int w, const int half) {
	__m256 a[8], b[6];
	const __m256 cv = _mm256_set1_ps(c);
	_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = _mm256_mul_ps(_mm256_loadu_ps(acc + 8 * u), cv);
	long t = 0;
	if (w <= 6) {
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) b[u] = _mm256_setzero_ps();
		for (; t + 2 <= n; t += 2) {
			const __m256 p0 = _mm256_broadcast_ss(p + t), p1 = _mm256_broadcast_ss(p + t + 1);
			_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) {
				a[u] = _mm256_fmadd_ps(p0, row8(r, t, d0 + 8 * u, half), a[u]);
				b[u] = _mm256_fmadd_ps(p1, row8(r, t + 1, d0 + 8 * u, half), b[u]);
			}
		}
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = _mm256_add_ps(a[u], b[u]);
	}
	for (; t < n; t++) {
		const __m256 pv = _mm256_broadcast_ss(p + t);
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = _mm256_fmadd_ps(pv, row8(r, t, d0 + 8 * u, half), a[u]);
	}
	_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) _mm256_storeu_ps(acc + 8 * u, a[u]);
}

// flash_av_all is flash_av over all pad dimensions, 64 at a time.
AVX2 static inline __attribute__((always_inline)) void flash_av_all(float *acc, const float *p, tile_rows r, long pad, long n, float c, const int half) {
	long d = 0;
	for (; d + 64 <= pad; d += 64) flash_av(acc + d, p, r, d, n, c, 8, half);
	switch ((pad - d) / 8) {
	case 1: flash_av(acc + d, p, r, d, n, c, 1, half); break;
	case 2: flash_av(acc + d, p, r, d, n, c, 2, half); break;
	case 3: flash_av(acc + d, p, r, d, n, c, 3, half); break;
	case 4: flash_av(acc + d, p, r, d, n, c, 4, half); break;
	case 5: flash_av(acc + d, p, r, d, n, c, 5, half); break;
	case 6: flash_av(acc + d, p, r, d, n, c, 6, half); break;
	case 7: flash_av(acc + d, p, r, d, n, c, 7, half); break;
	}
}

// tile_block gathers the n rows of positions b0.. (the runs walked from
// *run, *in) into r: widened into its f rows, zero past n to a whole 8
// (keys, whose scores run 8 at a time), or as pointers, past n the first
// row again; widen picks which.
AVX2 static inline __attribute__((always_inline)) void tile_block(float *f, const uint16_t **h, const uint16_t *src, long stride, long hd, long pad, const long *runs, long *run, long *in, long n, int zero, const int half) {
	for (long i = 0; i < n; i++) {
		while (runs[2 * *run + 1] == 0) ++*run;
		const uint16_t *row = src + (runs[2 * *run] + *in) * stride;
		if (half) h[i] = row;
		else flash_widen(f + i * pad, row, hd, pad);
		if (++*in == runs[2 * *run + 1]) ++*run, *in = 0;
	}
	for (long i = n; i < ((n + 7) & ~7L); i++) {
		if (half) h[i] = h[0];
		else if (zero) {
			for (long d = 0; d < pad; d++) f[i * pad + d] = 0;
		}
	}
}

// tile_pass is kernels_attend_tile_f16's work over the keys and values,
// its rows read widened (half 0) or in place (half 1).
AVX2 static inline __attribute__((always_inline)) void tile_pass(float *qs, long per, long nq, long ng, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, long pad, const long *runs, float scale, long block, int online, float *kb, float *vb, const int half) {
	const uint16_t *kh[64], *vh[64];
	const tile_rows kr = {kb, kh, pad}, vr = {vb, vh, pad};
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	// Pass over the keys: scores (online: folded into the running output
	// block by block, so the values are read in the same pass).
	long run = 0, in = 0, vrun = 0, vin = 0;
	for (long b0 = 0; b0 < longest; b0 += block) {
		const long n = longest - b0 < block ? longest - b0 : block;
		tile_block(kb, kh, k, stride, hd, pad, runs, &run, &in, n, 1, half);
		if (online) tile_block(vb, vh, v, stride, hd, pad, runs, &vrun, &vin, n, 0, half);
		for (long j = 0; j < nq; j++) {
			const long span = spans[j / ng];
			if (span <= b0) continue;
			const long nj = span - b0 < block ? span - b0 : block;
			float *qp = qs + j * per, *acc = qp + pad, *ml = acc + pad, *s = ml + 2 + (online ? 0 : b0);
			__m256 mv = _mm256_set1_ps(-INFINITY);
			for (long t0 = 0; t0 < nj; t0 += 8) {
				__m256 sv = _mm256_mul_ps(flash_scores8(qp, kr, t0, pad, half), _mm256_set1_ps(scale));
				_mm256_storeu_ps(s + t0, sv);
				if (t0 + 8 > nj) sv = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), sv, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nj - t0)), lane)));
				mv = _mm256_max_ps(mv, sv);
			}
			if (!online) continue;
			__m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
			m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
			m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
			const float old = ml[0], mb = _mm_cvtss_f32(m4);
			const float mnew = old > mb ? old : mb;
			const float c = old == -INFINITY ? 0 : _mm256_cvtss_f32(exp_ps(_mm256_set1_ps(old - mnew)));
			__m256 sum = _mm256_setzero_ps();
			for (long t0 = 0; t0 < nj; t0 += 8) {
				__m256 p = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + t0), _mm256_set1_ps(mnew)));
				if (t0 + 8 > nj) p = _mm256_and_ps(p, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nj - t0)), lane)));
				_mm256_storeu_ps(s + t0, p);
				sum = _mm256_add_ps(sum, p);
			}
			ml[0] = mnew;
			ml[1] = ml[1] * c + hsum(sum);
			flash_av_all(acc, s, vr, pad, nj, c, half);
		}
	}
	if (online) return;
	// The weights as llama.cpp's f16 V cache takes them: normalised, then
	// rounded to f16; then a pass over the values.
	for (long j = 0; j < nq; j++) {
		float *s = qs + j * per + 2 * pad + 2;
		const long span = spans[j / ng];
		if (span == 0) continue;
		kernels_softmax(s, span);
		kernels_round_f16(s, s, span);
	}
	for (long b0 = 0; b0 < longest; b0 += block) {
		const long n = longest - b0 < block ? longest - b0 : block;
		tile_block(vb, vh, v, stride, hd, pad, runs, &vrun, &vin, n, 0, half);
		for (long j = 0; j < nq; j++) {
			const long span = spans[j / ng];
			if (span <= b0) continue;
			float *acc = qs + j * per + pad;
			flash_av_all(acc, acc + pad + 2 + b0, vr, pad, span - b0 < block ? span - b0 : block, 1, half);
		}
	}
}

// tileInPlace is the fewest queries a tile widens its rows for: fewer
// read the cache's f16 rows in place, as widening them would cost about
// as much as the queries' own work.
enum { tileInPlace = 4 };

// kernels_attend_tile_f16 is AttendTileHalf's kernel (kernels/tile.go
// holds the design and the Go reference). Query (t, g) is at q +
// t·tstride + g·hd and token t sees the first spans[t] positions of the
// runs; block is the positions a block (at most 64), scratch
// AttendTileScratch floats, longest the longest span.
AVX2 void kernels_attend_tile_f16(float *out, const float *q, long tstride, long nt, long ng, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, long nruns, float scale, long block, int online, float *scratch) {
	const long pad = (hd + 7) & ~7L, nq = nt * ng;
	float *kb = scratch, *vb = kb + block * pad, *qs = vb + block * pad;
	// Per query: padded query, running output, max and sum, then the
	// scores of a block (online) or of the whole span.
	const long per = 2 * pad + 2 + (online ? block : (longest + 7) & ~7L);
	for (long t = 0; t < nt; t++) {
		for (long g = 0; g < ng; g++) {
			float *qp = qs + (t * ng + g) * per;
			const float *src = q + t * tstride + g * hd;
			for (long i = 0; i < pad; i++) qp[i] = i < hd ? src[i] : 0, qp[pad + i] = 0;
			qp[2 * pad] = -INFINITY;
			qp[2 * pad + 1] = 0;
		}
	}
	// In place needs whole vectors of a row: hd a multiple of 8.
	if (nq < tileInPlace && hd == pad) {
		tile_pass(qs, per, nq, ng, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 1);
	} else {
		tile_pass(qs, per, nq, ng, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 0);
	}
	for (long j = 0; j < nq; j++) {
		const float *acc = qs + j * per + pad, l = acc[pad + 1];
		float *o = out + j / ng * tstride + j % ng * hd;
		const float inv = !online ? 1 : l == 0 ? 0 : 1 / l;
		for (long i = 0; i < hd; i++) o[i] = acc[i] * inv;
	}
}
