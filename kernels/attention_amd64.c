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

// tile_widen converts hd f16 values at src to float32 at dst, zero to
// pad (a multiple of 8) floats.
AVX2 static inline __attribute__((always_inline)) void tile_widen(float *dst, const uint16_t *src, long hd, long pad) {
	long i = 0;
	for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
	for (; i < hd; i++) dst[i] = _cvtsh_ss(src[i]);
	for (; i < pad; i++) dst[i] = 0;
}

// tile_prefetch asks for the cache lines of hd f16 values at row, with
// hint (_MM_HINT_T0 or _T1).
#define tile_prefetch(row, hd, hint) \
	do { \
		const char *p_ = (const char *)(row); \
		for (long o_ = 0; o_ < (hd) * 2; o_ += 64) _mm_prefetch(p_ + o_, hint); \
		_mm_prefetch(p_ + (hd) * 2 - 1, hint); \
	} while (0)

// tile_rows is a block's key or value rows as a tile kernel reads them:
// widened to float32, pad apart from f, or (h) the cache's f16 rows in
// place from value off of each, converted as read (exactly: the same
// values either way).
typedef struct {
	const float *f;
	const uint16_t *const *h;
	long pad, off;
} tile_rows;

#define T_W 8
#define T_TARGET AVX2
#define TV __m256
#define T_(name) name##_avx2
#define T_ZERO() _mm256_setzero_ps()
#define T_SET1(x) _mm256_set1_ps(x)
#define T_LOAD(p) _mm256_loadu_ps(p)
#define T_STORE(p, v) _mm256_storeu_ps(p, v)
#define T_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define T_MUL(a, b) _mm256_mul_ps(a, b)
#define T_ADD(a, b) _mm256_add_ps(a, b)
#define T_HALF(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define T_TO8(v) (v)
#include "attention_tile.h"
#undef T_W
#undef T_TARGET
#undef TV
#undef T_
#undef T_ZERO
#undef T_SET1
#undef T_LOAD
#undef T_STORE
#undef T_FMA
#undef T_MUL
#undef T_ADD
#undef T_HALF
#undef T_TO8

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define T_W 16
#define T_TARGET AVX512
#define TV __m512
#define T_(name) name##_avx512
#define T_ZERO() _mm512_setzero_ps()
#define T_SET1(x) _mm512_set1_ps(x)
#define T_LOAD(p) _mm512_loadu_ps(p)
#define T_STORE(p, v) _mm512_storeu_ps(p, v)
#define T_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define T_MUL(a, b) _mm512_mul_ps(a, b)
#define T_ADD(a, b) _mm512_add_ps(a, b)
#define T_HALF(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
// A 16-lane vector's halves added, for the 8-lane tree.
#define T_TO8(v) _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
#include "attention_tile.h"

// tileInPlace is the fewest queries a KV head for which a tile widens
// its rows: fewer read the cache's f16 rows in place, as widening them
// would cost about as much as the queries' own work.
// kernels.TileInPlace is the same.
enum { tileInPlace = 4 };

// The tile kernel's scratch, from the start: widened key and value rows
// (block of pad floats each), then per query its padded query, running
// output, max and sum, and the scores of a block (online) or of the whole
// span: tile_per floats.
static inline long tile_per(long pad, long block, long longest, int online) {
	return 2 * pad + 2 + (online ? block : (longest + 7) & ~7L);
}

// tile_init copies the queries into the scratch and clears their sums.
AVX2 static inline void tile_init(float *qs, long per, const float *q, long tstride, long nt, long ng, long hd, long pad) {
	for (long t = 0; t < nt; t++) {
		for (long g = 0; g < ng; g++) {
			float *qp = qs + (t * ng + g) * per;
			const float *src = q + t * tstride + g * hd;
			for (long i = 0; i < pad; i++) qp[i] = i < hd ? src[i] : 0, qp[pad + i] = 0;
			qp[2 * pad] = -INFINITY;
			qp[2 * pad + 1] = 0;
		}
	}
}

// tile_out writes each query's output, normalised when online.
AVX2 static inline void tile_out(float *out, const float *qs, long per, long tstride, long nq, long ng, long hd, long pad, int online) {
	for (long j = 0; j < nq; j++) {
		const float *acc = qs + j * per + pad, l = acc[pad + 1];
		float *o = out + j / ng * tstride + j % ng * hd;
		const float inv = !online ? 1 : l == 0 ? 0 : 1 / l;
		for (long i = 0; i < hd; i++) o[i] = acc[i] * inv;
	}
}

typedef void tile_kernel(float *, const float *, long, long, long, long, const long *, long, const uint16_t *, const uint16_t *, long, long, const long *, float, long, int, float *);

// tile_split runs a tile over nkv KV heads as one tile a KV head, each
// with its group of query heads: for tiles that widen their rows, which
// hold one KV head's values.
static void tile_split(float *out, const float *q, long tstride, long nt, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, float scale, long block, int online, float *scratch, tile_kernel *kernel) {
	const long group = ng / nkv;
	for (long h = 0; h < nkv; h++) {
		kernel(out + h * group * hd, q + h * group * hd, tstride, nt, group, 1, spans, longest, k + h * hd, v + h * hd, stride, hd, runs, scale, block, online, scratch);
	}
}

// kernels_attend_tile_f16 is AttendTileHalf's kernel (kernels/tile.go
// holds the design and the Go reference), in vectors of 8 floats. Query
// (t, g) is at q + t·tstride + g·hd and reads KV head g/(ng/nkv) (hd
// values each from k and v); token t sees the first spans[t] positions
// of the runs; block is the positions a block (at most 64), scratch
// AttendTileScratch floats, longest the longest span.
AVX2 void kernels_attend_tile_f16(float *out, const float *q, long tstride, long nt, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, float scale, long block, int online, float *scratch) {
	const long pad = (hd + 7) & ~7L, nq = nt * ng, per = tile_per(pad, block, longest, online);
	// In place needs whole vectors of a row: hd a multiple of 8.
	const int inPlace = nq / nkv < tileInPlace && hd == pad;
	if (nkv > 1 && !inPlace) {
		tile_split(out, q, tstride, nt, ng, nkv, spans, longest, k, v, stride, hd, runs, scale, block, online, scratch, kernels_attend_tile_f16);
		return;
	}
	float *kb = scratch, *vb = kb + block * pad, *qs = vb + block * pad;
	tile_init(qs, per, q, tstride, nt, ng, hd, pad);
	if (inPlace) {
		tile_pass_avx2(qs, per, nq, ng, nkv, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 1);
	} else {
		tile_pass_avx2(qs, per, nq, ng, 1, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 0);
	}
	tile_out(out, qs, per, tstride, nq, ng, hd, pad, online);
}

// kernels_attend_tile_f16_avx512 is kernels_attend_tile_f16 in vectors
// of 16 floats where hd is a multiple of 16 (of 8 otherwise).
AVX512 void kernels_attend_tile_f16_avx512(float *out, const float *q, long tstride, long nt, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, float scale, long block, int online, float *scratch) {
	if (hd % 16 != 0) {
		kernels_attend_tile_f16(out, q, tstride, nt, ng, nkv, spans, longest, k, v, stride, hd, runs, scale, block, online, scratch);
		return;
	}
	const long pad = hd, nq = nt * ng, per = tile_per(pad, block, longest, online);
	const int inPlace = nq / nkv < tileInPlace;
	if (nkv > 1 && !inPlace) {
		tile_split(out, q, tstride, nt, ng, nkv, spans, longest, k, v, stride, hd, runs, scale, block, online, scratch, kernels_attend_tile_f16_avx512);
		return;
	}
	float *kb = scratch, *vb = kb + block * pad, *qs = vb + block * pad;
	tile_init(qs, per, q, tstride, nt, ng, hd, pad);
	if (inPlace) {
		tile_pass_avx512(qs, per, nq, ng, nkv, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 1);
	} else {
		tile_pass_avx512(qs, per, nq, ng, 1, spans, longest, k, v, stride, hd, pad, runs, scale, block, online, kb, vb, 0);
	}
	tile_out(out, qs, per, tstride, nq, ng, hd, pad, online);
}
