//go:build cgo

// GEMM kernels over row-interleaved (packed) weights, for AVX2, AVX-512
// (F/BW/VL) and AVX-512 VNNI. The layouts are repack.go's: rows go in
// groups of eight, and each block of a group holds the eight rows' scales
// and then their quants in 4-byte chunks, chunk k of every row together,
// so one 32-byte load is chunk k of eight rows and one broadcast 4-byte
// activation chunk meets all of them: each 32-bit lane is one row.
//
// Batch invariance by construction: lane r of input i's float
// accumulator is output (row r, input i) and nothing else, and it takes
// the same operations in the same order whatever the batch, the group's
// place or the kernel set: per block (super-block for Q4_K), an exact
// integer dot, then s = d_w·d_x rounded, then acc = fma(s, float(isum),
// acc). No float sum crosses lanes. So one input gives the bits of a
// batch, AVX2 those of AVX-512 and VNNI, and the Go reference (gemm.go,
// with an exactly rounded fma) those of all three.

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

// Loops over a tile's inputs unrolled in full: m is a constant in each
// instance (mk8_m, mk16_m), so the accumulator arrays become registers
// (GCC otherwise keeps them on the stack, a store and load per dot).
#define EACH_INPUT _Pragma("GCC unroll 8") for (int i = 0; i < m; i++)

enum { T_Q8_0, T_Q4_0, T_IQ4_NL, T_Q4_K, T_Q5_0, T_Q6_K };

// Where a packed Q6_K block keeps sub-block pair j's low bits and quad
// q's high bits (repack.go's q6Low, q6High).
#define Q6_LOW(j) (144 + 768 * ((j) / 2) + 256 * ((j) % 2))
#define Q6_HIGH(q) (144 + 768 * (q) + 512)

// Bytes of one block of a group of eight rows, per type.
#define GB(T) ((T) == T_Q8_0 ? 272 : (T) == T_Q4_K ? 1184 : (T) == T_Q5_0 ? 176 : (T) == T_Q6_K ? 1680 : 144)

// How much of a worker's weights one tile holds: it stays in L2 while
// every input of the batch passes over it.
#define TILE_BYTES (128 << 10)

int kernels_avx512bw_supported(void) {
	__builtin_cpu_init();
	return kernels_supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
}

INLINE int32_t ld32(const void *p) {
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

// ---- AVX2: one group (8 rows) at a time, up to 4 inputs ----

AVX2 INLINE __m256i dot_us(__m256i acc, __m256i u, __m256i s) {
	return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

// vpdpbusd on 256-bit vectors (AVX512-VNNI with VL): u (unsigned) times s
// (signed), four bytes per lane, into acc in one instruction. Spelt in
// asm, EVEX-encoded, so the AVX2 kernels can inline it: only the VNNI
// set's calls reach it.
AVX2 INLINE __m256i dpbusd256(__m256i acc, __m256i u, __m256i s) {
	__asm__("%{evex%} vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
	return acc;
}

// The int16 scale of each row in both halves of its 32-bit lane, from
// eight bytes (one per row), for madd to apply to a row's two int16 dots.
AVX2 INLINE __m256i scales16(const uint8_t *p) {
	const __m256i e = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
	return _mm256_or_si256(e, _mm256_slli_epi32(e, 16));
}

// Q5_0's fifth bits as 16 in each byte: byte e of lane r takes bit e of
// the lane's low byte of t (qh[r] shifted to the chunk's bits).
AVX2 INLINE __m256i fifth8(__m256i t) {
	const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
	const __m256i bit = _mm256_set1_epi32(0x08040201);
	const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(t, idx), bit);
	return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(0x10));
}

// The int16 scale of each row in both halves of its lane, from eight
// signed bytes (Q6_K's scales).
AVX2 INLINE __m256i scales16s(const uint8_t *p) {
	const __m256i e = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
	return _mm256_or_si256(_mm256_and_si256(e, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(e, 16));
}

// Q6_K's six-bit values of a chunk as stored (0..63, the offset of 32
// not yet taken): low nibbles from q (low or high half, nib), two high
// bits from h at bit sh (0, 2, 4 or 6).
AVX2 INLINE __m256i q6_stored(__m256i q, __m256i h, int nib, int sh) {
	const __m256i lo = _mm256_and_si256(nib ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0xF));
	__m256i hb;
	switch (sh) {
	case 0: hb = _mm256_slli_epi16(h, 4); break;
	case 2: hb = _mm256_slli_epi16(h, 2); break;
	case 4: hb = h; break;
	default: hb = _mm256_srli_epi16(h, 2); break;
	}
	return _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
}

// Σ_s scale[s][r]·Σx over the sixteen 16-value groups s of a Q6_K
// super-block, per row r: what 32 times comes off the stored values'
// dot. sc is the block's scale[s][r] bytes; xs the input's group sums as
// int16 pairs (gemm.go's pairSums16), so one madd takes groups 2p, 2p+1.
AVX2 INLINE __m256i q6_offset(const uint8_t *sc, const int32_t *xs) {
	__m256i im = _mm256_setzero_si256();
	for (int p = 0; p < 8; p++) {
		const __m128i pair = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sc + 16 * p)), _mm_loadl_epi64((const __m128i *)(sc + 16 * p + 8)));
		im = _mm256_add_epi32(im, _mm256_madd_epi16(_mm256_cvtepi8_epi16(pair), _mm256_set1_epi32(xs[p])));
	}
	return im;
}

// Rows of one group times m inputs (xq, xd, xs at input i's blocks plus
// i*xqs, i*xds); y + i*ys receives input i's eight outputs.
//
// With vnni (the VNNI set's decode, gemm_avx512), Q6_K's 16-value sums go
// through vpdpbusd and meet their scale once, by vpmulld: 27-29 against
// 21-26 GB/s for the maddubs path, one thread from L2 on the machine of
// issue 19, where the other types measured the same either way and so
// keep one path. The integers, and so the bits, are the maddubs path's.
AVX2 INLINE void mk8(int T, int vnni, const uint8_t *wg, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs,
                     long xds, float *y, long ys, int m) {
	const __m256i m4 = _mm256_set1_epi8(0xF);
	const __m256i tab = _mm256_broadcastsi128_si256(_mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	for (long b = 0; b < nb; b++) {
		const uint8_t *blk = wg + b * GB(T);
		prefetch_span(blk, GB(T));
		__m256i ia[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
		if (T == T_Q4_K) {
			// b is a super-block: 8 sub-blocks of 32, as 4 pairs j whose
			// bytes hold sub-block 2j in the low nibbles, 2j+1 in the high.
			const uint8_t *sc = blk + 32, *mn = blk + 96, *qs = blk + 160;
			for (int j = 0; j < 4; j++) {
				const __m256i sa = scales16(sc + 16 * j), sb = scales16(sc + 16 * j + 8);
				for (int k = 0; k < 8; k++) {
					const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 256 * j + 32 * k));
					const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 256 + 64 * j + 4 * k;
						const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_set1_epi32(ld32(x)));
						const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ld32(x + 32)));
						ia[i] = _mm256_add_epi32(ia[i], _mm256_add_epi32(_mm256_madd_epi16(pl, sa), _mm256_madd_epi16(ph, sb)));
					}
				}
			}
			const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
			const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
			EACH_INPUT {
				const int32_t *s = xs + i * xds + b * 8;
				__m256i im = _mm256_setzero_si256();
				for (int p = 0; p < 4; p++) {
					const __m256i mv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(mn + 16 * p)));
					const __m256i xv = _mm256_set1_epi32((int32_t)((uint32_t)s[2 * p + 1] << 16 | (uint16_t)s[2 * p]));
					im = _mm256_add_epi32(im, _mm256_madd_epi16(mv, xv));
				}
				const __m256 dx = _mm256_set1_ps(xd[i * xds + b * 8]);
				acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(ia[i]), acc[i]);
				acc[i] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, dx), _mm256_cvtepi32_ps(im), acc[i]);
			}
			continue;
		}
		if (T == T_Q6_K) {
			// b is a super-block: sub-block pairs j as Q4_K's, their high
			// bits four sub-blocks to a byte, a scale per 16 values. The
			// values go in as stored, unsigned (at most 63 times |x| <= 127:
			// maddubs's pair sums fit int16), and 32·Σ scale·Σx comes off
			// after, the same integer as the dot of the values less 32.
			const uint8_t *sc = blk + 16;
			for (int j = 0; j < 4; j++) {
				// Without vnni each chunk's int16 pair sums meet their
				// scales by madd. With it, t[h][i] sums quarter h of the pair
				// (16 values each, in scale order: low k < 4, low k >= 4,
				// high k < 4, high k >= 4) until its scale meets it below.
				const __m256i s0 = scales16s(sc + 32 * j), s1 = scales16s(sc + 32 * j + 8);
				const __m256i s2 = scales16s(sc + 32 * j + 16), s3 = scales16s(sc + 32 * j + 24);
				__m256i t[4][4];
				_Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) EACH_INPUT t[h][i] = _mm256_setzero_si256();
				_Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
					const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + Q6_LOW(j) + 32 * k));
					const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + Q6_HIGH(j / 2) + 32 * k));
					const __m256i ul = q6_stored(q, h, 0, 4 * (j % 2)), uh = q6_stored(q, h, 1, 4 * (j % 2) + 2);
					const int ql = k < 4 ? 0 : 1;
					const __m256i sl = k < 4 ? s0 : s1, sh = k < 4 ? s2 : s3;
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 256 + 64 * j + 4 * k;
						if (vnni) {
							t[ql][i] = dpbusd256(t[ql][i], ul, _mm256_set1_epi32(ld32(x)));
							t[ql + 2][i] = dpbusd256(t[ql + 2][i], uh, _mm256_set1_epi32(ld32(x + 32)));
							continue;
						}
						const __m256i pl = _mm256_maddubs_epi16(ul, _mm256_set1_epi32(ld32(x)));
						const __m256i ph = _mm256_maddubs_epi16(uh, _mm256_set1_epi32(ld32(x + 32)));
						ia[i] = _mm256_add_epi32(ia[i], _mm256_add_epi32(_mm256_madd_epi16(pl, sl), _mm256_madd_epi16(ph, sh)));
					}
				}
				if (vnni) {
					_Pragma("GCC unroll 4") for (int h = 0; h < 4; h++) {
						const __m256i sv = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(sc + 32 * j + 8 * h)));
						EACH_INPUT ia[i] = _mm256_add_epi32(ia[i], _mm256_mullo_epi32(t[h][i], sv));
					}
				}
			}
			const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
			EACH_INPUT {
				const __m256i is = _mm256_sub_epi32(ia[i], _mm256_slli_epi32(q6_offset(sc, xs + i * xds + b * 8), 5));
				acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[i * xds + b * 8])), _mm256_cvtepi32_ps(is), acc[i]);
			}
			continue;
		}
		if (T == T_Q5_0) {
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
			for (int k = 0; k < 4; k++) {
				const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 48 + 32 * k));
				const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), fifth8(_mm256_srli_epi32(qh, 4 * k)));
				const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), fifth8(_mm256_srli_epi32(qh, 16 + 4 * k)));
				// Values <= 31 times |x| <= 127: two pairs' sum fits int16.
				EACH_INPUT {
					const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
					const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(ld32(x))),
					                                   _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ld32(x + 16))));
					ia[i] = _mm256_add_epi32(ia[i], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
				}
			}
		} else if (T == T_Q8_0) {
			for (int k = 0; k < 8; k++) {
				// Stored as q+128 (repack.go); maddubs takes |q| and x·sign(q).
				const __m256i q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * k)), _mm256_set1_epi8(-128));
				const __m256i u = _mm256_abs_epi8(q);
				EACH_INPUT {
					const __m256i x = _mm256_set1_epi32(ld32(xq + i * xqs + b * 32 + 4 * k));
					ia[i] = dot_us(ia[i], u, _mm256_sign_epi8(x, q));
				}
			}
		} else {
			for (int k = 0; k < 4; k++) {
				const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * k));
				__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
				if (T == T_IQ4_NL) {
					lo = _mm256_shuffle_epi8(tab, lo);
					hi = _mm256_shuffle_epi8(tab, hi);
					const __m256i ul = _mm256_abs_epi8(lo), uh = _mm256_abs_epi8(hi);
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
						ia[i] = dot_us(ia[i], ul, _mm256_sign_epi8(_mm256_set1_epi32(ld32(x)), lo));
						ia[i] = dot_us(ia[i], uh, _mm256_sign_epi8(_mm256_set1_epi32(ld32(x + 16)), hi));
					}
				} else {
					// Nibbles (<= 15) times |x| <= 127: two pairs' sum fits int16.
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
						const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_set1_epi32(ld32(x))),
						                                   _mm256_maddubs_epi16(hi, _mm256_set1_epi32(ld32(x + 16))));
						ia[i] = _mm256_add_epi32(ia[i], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
					}
				}
			}
		}
		const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
		EACH_INPUT {
			__m256i is = ia[i];
			if (T == T_Q4_0) is = _mm256_sub_epi32(is, _mm256_set1_epi32(8 * xs[i * xds + b]));
			if (T == T_Q5_0) is = _mm256_sub_epi32(is, _mm256_set1_epi32(16 * xs[i * xds + b]));
			acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[i * xds + b])), _mm256_cvtepi32_ps(is), acc[i]);
		}
	}
	EACH_INPUT _mm256_storeu_ps(y + i * ys, acc[i]);
}

AVX2 INLINE void mk8_m(int T, int vnni, const uint8_t *wg, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs,
                       long xds, float *y, long ys, int m) {
	switch (m) {
	case 4: mk8(T, vnni, wg, nb, xq, xqs, xd, xs, xds, y, ys, 4); break;
	case 3: mk8(T, vnni, wg, nb, xq, xqs, xd, xs, xds, y, ys, 3); break;
	case 2: mk8(T, vnni, wg, nb, xq, xqs, xd, xs, xds, y, ys, 2); break;
	default: mk8(T, vnni, wg, nb, xq, xqs, xd, xs, xds, y, ys, 1); break;
	}
}

// Groups [g0, g1) times n inputs (input i's quantized values at
// xq + i*xqs, its block scales and sums at xd/xs + i*xds; its outputs at
// y + i*ys, row r at r), a tile of groups at a time, four inputs a pass.
AVX2 INLINE void gemm_avx2(int T, int vnni, const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds,
                           float *y, long ys, long g0, long g1, long n) {
	const long gbytes = GB(T) * nb;
	const long tile = TILE_BYTES / gbytes > 1 ? TILE_BYTES / gbytes : 1;
	for (long t0 = g0; t0 < g1; t0 += tile) {
		const long t1 = t0 + tile < g1 ? t0 + tile : g1;
		for (long j = 0; j < n; j += 4) {
			const int m = n - j < 4 ? (int)(n - j) : 4;
			for (long g = t0; g < t1; g++)
				mk8_m(T, vnni, w + g * gbytes, nb, xq + j * xqs, xqs, xd + j * xds, xs + j * xds, xds, y + j * ys + g * 8, ys, m);
		}
	}
}

// ---- AVX-512: two groups (16 rows) at a time, up to 8 inputs ----

// Chunk off of two groups gbytes apart as one vector: group a's rows in
// the low half.
AVX512 INLINE __m512i ld2(const uint8_t *wa, long gbytes, long off) {
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wa + off))),
	                          _mm256_loadu_si256((const __m256i *)(wa + gbytes + off)), 1);
}

AVX512 INLINE __m512 ld2_f16(const uint8_t *wa, long gbytes, long off) {
	return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(wa + off))),
	                                                _mm_loadu_si128((const __m128i *)(wa + gbytes + off)), 1));
}

AVX512 INLINE __m512i scales16x2(const uint8_t *a, const uint8_t *b) {
	const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)a), _mm_loadl_epi64((const __m128i *)b));
	const __m512i e = _mm512_cvtepu8_epi32(v);
	return _mm512_or_si512(e, _mm512_slli_epi32(e, 16));
}

// u (unsigned) times s (signed), four bytes per lane, into acc: in one
// vpdpbusd with VNNI, else maddubs (its int16 pair sums do not saturate
// for our operands) and madd.
AVX512 INLINE __m512i dot_us512(__m512i acc, __m512i u, __m512i s, int vnni) {
	if (vnni) {
		__m512i r;
		// The VNNI instruction, spelt in asm: this function is compiled
		// without the avx512vnni target so the non-VNNI kernels can share it.
		__asm__("vpdpbusd %2, %1, %0" : "=v"(r) : "v"(u), "v"(s), "0"(acc));
		return r;
	}
	return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}

// s (int16 pairs) times the rows' int16 scales, into acc: vpdpwssd with VNNI.
AVX512 INLINE __m512i dot_ss512(__m512i acc, __m512i s, __m512i sc, int vnni) {
	if (vnni) {
		__m512i r;
		__asm__("vpdpwssd %2, %1, %0" : "=v"(r) : "v"(s), "v"(sc), "0"(acc));
		return r;
	}
	return _mm512_add_epi32(acc, _mm512_madd_epi16(s, sc));
}

// x where q >= 0, -x where q < 0 (_mm256_sign_epi8 has no 512-bit form;
// where q is 0 the unsigned side is 0).
AVX512 INLINE __m512i sign512(__m512i x, __m512i q) {
	return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(q), _mm512_setzero_si512(), x);
}

AVX512 INLINE __m512i scales16sx2(const uint8_t *a, const uint8_t *b) {
	const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)a), _mm_loadl_epi64((const __m128i *)b));
	const __m512i e = _mm512_cvtepi8_epi32(v);
	return _mm512_or_si512(_mm512_and_si512(e, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(e, 16));
}

// fifth8 on 16 lanes, added to v.
AVX512 INLINE __m512i add_fifth16(__m512i v, __m512i t) {
	const __m512i idx = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
	const __mmask64 set = _mm512_test_epi8_mask(_mm512_shuffle_epi8(t, idx), _mm512_set1_epi32(0x08040201));
	return _mm512_mask_add_epi8(v, set, v, _mm512_set1_epi8(0x10));
}

AVX512 INLINE __m512i q6_stored16(__m512i q, __m512i h, int nib, int sh) {
	const __m512i lo = _mm512_and_si512(nib ? _mm512_srli_epi16(q, 4) : q, _mm512_set1_epi8(0xF));
	__m512i hb;
	switch (sh) {
	case 0: hb = _mm512_slli_epi16(h, 4); break;
	case 2: hb = _mm512_slli_epi16(h, 2); break;
	case 4: hb = h; break;
	default: hb = _mm512_srli_epi16(h, 2); break;
	}
	return _mm512_or_si512(lo, _mm512_and_si512(hb, _mm512_set1_epi8(0x30)));
}

// q6_offset for two groups' scales (sca, scb): group a's rows low.
AVX512 INLINE __m512i q6_offset16(const uint8_t *sca, const uint8_t *scb, const int32_t *xs, int vnni) {
	__m512i im = _mm512_setzero_si512();
	for (int p = 0; p < 8; p++) {
		const __m128i pa = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sca + 16 * p)), _mm_loadl_epi64((const __m128i *)(sca + 16 * p + 8)));
		const __m128i pb = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(scb + 16 * p)), _mm_loadl_epi64((const __m128i *)(scb + 16 * p + 8)));
		im = dot_ss512(im, _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(pa), pb, 1)), _mm512_set1_epi32(xs[p]), vnni);
	}
	return im;
}

// Two groups (wa, then wa + gbytes) times m inputs; y + i*ys receives
// input i's sixteen outputs. Each lane takes mk8's operations exactly.
AVX512 INLINE void mk16(int T, int vnni, const uint8_t *wa, long gbytes, long nb, const int8_t *xq, long xqs, const float *xd,
                        const int32_t *xs, long xds, float *y, long ys, int m) {
	const __m512i m4 = _mm512_set1_epi8(0xF);
	const __m512i tab = _mm512_broadcast_i32x4(_mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
	__m512 acc[8];
	EACH_INPUT acc[i] = _mm512_setzero_ps();
	for (long b = 0; b < nb; b++) {
		const long o = b * GB(T);
		// Both groups' weights stream from memory in decode: fetch ahead.
		prefetch_span(wa + o, GB(T));
		prefetch_span(wa + gbytes + o, GB(T));
		__m512i ia[8];
		EACH_INPUT ia[i] = _mm512_setzero_si512();
		if (T == T_Q4_K && vnni) {
			// A sub-block at a time: vpdpbusd sums its 32 products per row,
			// then one multiply by the rows' scales, where maddubs and
			// vpdpwssd would take two instructions per chunk and input.
			for (int s = 0; s < 8; s++) {
				const __m512i sc = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(wa + o + 32 + 8 * s)),
				                                                           _mm_loadl_epi64((const __m128i *)(wa + gbytes + o + 32 + 8 * s))));
				__m512i t[8];
				EACH_INPUT t[i] = _mm512_setzero_si512();
				for (int k = 0; k < 8; k++) {
					const __m512i q = ld2(wa, gbytes, o + 160 + 256 * (s / 2) + 32 * k);
					const __m512i u = _mm512_and_si512(s & 1 ? _mm512_srli_epi16(q, 4) : q, m4);
					EACH_INPUT t[i] = dot_us512(t[i], u, _mm512_set1_epi32(ld32(xq + i * xqs + b * 256 + 32 * s + 4 * k)), 1);
				}
				EACH_INPUT ia[i] = _mm512_add_epi32(ia[i], _mm512_mullo_epi32(t[i], sc));
			}
		}
		if (T == T_Q4_K) {
			const uint8_t *sca = wa + o + 32, *scb = wa + gbytes + o + 32;
			for (int j = 0; j < 4 && !vnni; j++) {
				const __m512i sa = scales16x2(sca + 16 * j, scb + 16 * j), sb = scales16x2(sca + 16 * j + 8, scb + 16 * j + 8);
				for (int k = 0; k < 8; k++) {
					const __m512i q = ld2(wa, gbytes, o + 160 + 256 * j + 32 * k);
					const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 256 + 64 * j + 4 * k;
						ia[i] = dot_ss512(ia[i], _mm512_maddubs_epi16(lo, _mm512_set1_epi32(ld32(x))), sa, vnni);
						ia[i] = dot_ss512(ia[i], _mm512_maddubs_epi16(hi, _mm512_set1_epi32(ld32(x + 32))), sb, vnni);
					}
				}
			}
			const __m512 dw = ld2_f16(wa, gbytes, o), dm = ld2_f16(wa, gbytes, o + 16);
			EACH_INPUT {
				const int32_t *s = xs + i * xds + b * 8;
				__m512i im = _mm512_setzero_si512();
				for (int p = 0; p < 4; p++) {
					const __m256i mb = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(wa + o + 96 + 16 * p))),
					                                           _mm_loadu_si128((const __m128i *)(wa + gbytes + o + 96 + 16 * p)), 1);
					const __m512i xv = _mm512_set1_epi32((int32_t)((uint32_t)s[2 * p + 1] << 16 | (uint16_t)s[2 * p]));
					im = _mm512_add_epi32(im, _mm512_madd_epi16(_mm512_cvtepu8_epi16(mb), xv));
				}
				const __m512 dx = _mm512_set1_ps(xd[i * xds + b * 8]);
				acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(ia[i]), acc[i]);
				acc[i] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, dx), _mm512_cvtepi32_ps(im), acc[i]);
			}
			continue;
		}
		if (T == T_Q6_K) {
			const uint8_t *sca = wa + o + 16, *scb = wa + gbytes + o + 16;
			for (int j = 0; j < 4; j++) {
				const __m512i s0 = scales16sx2(sca + 32 * j, scb + 32 * j), s1 = scales16sx2(sca + 32 * j + 8, scb + 32 * j + 8);
				const __m512i s2 = scales16sx2(sca + 32 * j + 16, scb + 32 * j + 16), s3 = scales16sx2(sca + 32 * j + 24, scb + 32 * j + 24);
				for (int k = 0; k < 8; k++) {
					const __m512i q = ld2(wa, gbytes, o + Q6_LOW(j) + 32 * k);
					const __m512i h = ld2(wa, gbytes, o + Q6_HIGH(j / 2) + 32 * k);
					const __m512i ul = q6_stored16(q, h, 0, 4 * (j % 2)), uh = q6_stored16(q, h, 1, 4 * (j % 2) + 2);
					const __m512i sl = k < 4 ? s0 : s1, sh = k < 4 ? s2 : s3;
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 256 + 64 * j + 4 * k;
						ia[i] = dot_ss512(ia[i], _mm512_maddubs_epi16(ul, _mm512_set1_epi32(ld32(x))), sl, vnni);
						ia[i] = dot_ss512(ia[i], _mm512_maddubs_epi16(uh, _mm512_set1_epi32(ld32(x + 32))), sh, vnni);
					}
				}
			}
			const __m512 dw = ld2_f16(wa, gbytes, o);
			EACH_INPUT {
				const __m512i is = _mm512_sub_epi32(ia[i], _mm512_slli_epi32(q6_offset16(sca, scb, xs + i * xds + b * 8, vnni), 5));
				acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[i * xds + b * 8])), _mm512_cvtepi32_ps(is), acc[i]);
			}
			continue;
		}
		if (T == T_Q5_0) {
			const __m512i qh = ld2(wa, gbytes, o + 16);
			for (int k = 0; k < 4; k++) {
				const __m512i q = ld2(wa, gbytes, o + 48 + 32 * k);
				const __m512i lo = add_fifth16(_mm512_and_si512(q, m4), _mm512_srli_epi32(qh, 4 * k));
				const __m512i hi = add_fifth16(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), _mm512_srli_epi32(qh, 16 + 4 * k));
				EACH_INPUT {
					const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
					ia[i] = dot_us512(ia[i], lo, _mm512_set1_epi32(ld32(x)), vnni);
					ia[i] = dot_us512(ia[i], hi, _mm512_set1_epi32(ld32(x + 16)), vnni);
				}
			}
		} else if (T == T_Q8_0 && vnni) {
			// vpdpbusd takes the stored q+128 as it is; 128·Σx comes off below.
			for (int k = 0; k < 8; k++) {
				const __m512i u = ld2(wa, gbytes, o + 16 + 32 * k);
				EACH_INPUT ia[i] = dot_us512(ia[i], u, _mm512_set1_epi32(ld32(xq + i * xqs + b * 32 + 4 * k)), 1);
			}
		} else if (T == T_Q8_0) {
			for (int k = 0; k < 8; k++) {
				const __m512i q = _mm512_xor_si512(ld2(wa, gbytes, o + 16 + 32 * k), _mm512_set1_epi8(-128));
				const __m512i u = _mm512_abs_epi8(q);
				EACH_INPUT {
					const __m512i x = _mm512_set1_epi32(ld32(xq + i * xqs + b * 32 + 4 * k));
					ia[i] = dot_us512(ia[i], u, sign512(x, q), vnni);
				}
			}
		} else {
			for (int k = 0; k < 4; k++) {
				const __m512i q = ld2(wa, gbytes, o + 16 + 32 * k);
				__m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
				if (T == T_IQ4_NL && vnni) {
					// The levels plus 128, unsigned for vpdpbusd; 128·Σx comes off below.
					const __m512i tabu = _mm512_xor_si512(tab, _mm512_set1_epi8(-128));
					lo = _mm512_shuffle_epi8(tabu, lo);
					hi = _mm512_shuffle_epi8(tabu, hi);
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
						ia[i] = dot_us512(ia[i], lo, _mm512_set1_epi32(ld32(x)), 1);
						ia[i] = dot_us512(ia[i], hi, _mm512_set1_epi32(ld32(x + 16)), 1);
					}
				} else if (T == T_IQ4_NL) {
					lo = _mm512_shuffle_epi8(tab, lo);
					hi = _mm512_shuffle_epi8(tab, hi);
					const __m512i ul = _mm512_abs_epi8(lo), uh = _mm512_abs_epi8(hi);
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
						ia[i] = dot_us512(ia[i], ul, sign512(_mm512_set1_epi32(ld32(x)), lo), vnni);
						ia[i] = dot_us512(ia[i], uh, sign512(_mm512_set1_epi32(ld32(x + 16)), hi), vnni);
					}
				} else {
					EACH_INPUT {
						const int8_t *x = xq + i * xqs + b * 32 + 4 * k;
						ia[i] = dot_us512(ia[i], lo, _mm512_set1_epi32(ld32(x)), vnni);
						ia[i] = dot_us512(ia[i], hi, _mm512_set1_epi32(ld32(x + 16)), vnni);
					}
				}
			}
		}
		const __m512 dw = ld2_f16(wa, gbytes, o);
		EACH_INPUT {
			__m512i is = ia[i];
			if (T == T_Q4_0) is = _mm512_sub_epi32(is, _mm512_set1_epi32(8 * xs[i * xds + b]));
			if (T == T_Q5_0) is = _mm512_sub_epi32(is, _mm512_set1_epi32(16 * xs[i * xds + b]));
			if ((T == T_Q8_0 || T == T_IQ4_NL) && vnni) is = _mm512_sub_epi32(is, _mm512_set1_epi32(128 * xs[i * xds + b]));
			acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[i * xds + b])), _mm512_cvtepi32_ps(is), acc[i]);
		}
	}
	EACH_INPUT _mm512_storeu_ps(y + i * ys, acc[i]);
}

AVX512 INLINE void mk16_m(int T, int vnni, const uint8_t *wa, long gbytes, long nb, const int8_t *xq, long xqs, const float *xd,
                          const int32_t *xs, long xds, float *y, long ys, int m) {
	switch (m) {
	case 8: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 8); break;
	case 7: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 7); break;
	case 6: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 6); break;
	case 5: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 5); break;
	case 4: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 4); break;
	case 3: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 3); break;
	case 2: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 2); break;
	default: mk16(T, vnni, wa, gbytes, nb, xq, xqs, xd, xs, xds, y, ys, 1); break;
	}
}

// gemm_avx2's loop with pairs of groups; an odd last group of a tile
// takes the AVX2 kernel, whose lanes compute the same bits.
AVX512 INLINE void gemm_avx512(int T, int vnni, const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs,
                               long xds, float *y, long ys, long g0, long g1, long n) {
	const long gbytes = GB(T) * nb;
	long tile = TILE_BYTES / gbytes;
	tile = tile < 2 ? 2 : tile & ~1L;
	// Decode (one or two inputs) streams its weights from memory, and
	// there one group at a time reads faster than two groups gbytes
	// apart: 27 against 18 GB/s for Q4_0 and Q4_K on the AVX-512 machine
	// of issue 19, and 23 against 12 for Q6_K, though both run at the
	// same speed from cache. The AVX2 kernel gives the same bits.
	if (n <= 2) {
		gemm_avx2(T, vnni, w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n);
		return;
	}
	for (long t0 = g0; t0 < g1; t0 += tile) {
		const long t1 = t0 + tile < g1 ? t0 + tile : g1;
		for (long j = 0; j < n; j += 8) {
			const int m = n - j < 8 ? (int)(n - j) : 8;
			long g = t0;
			for (; g + 2 <= t1; g += 2)
				mk16_m(T, vnni, w + g * gbytes, gbytes, nb, xq + j * xqs, xqs, xd + j * xds, xs + j * xds, xds, y + j * ys + g * 8, ys, m);
			if (g < t1) {
				for (long j4 = j; j4 < j + m; j4 += 4) {
					const int m4 = j + m - j4 < 4 ? (int)(j + m - j4) : 4;
					mk8_m(T, vnni, w + g * gbytes, nb, xq + j4 * xqs, xqs, xd + j4 * xds, xs + j4 * xds, xds, y + j4 * ys + g * 8, ys, m4);
				}
			}
		}
	}
}

#define GEMM_ARGS                                                                                                             \
	const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y, long ys, long g0, \
	    long g1, long n
#define GEMM_PASS w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n

#define GEMM_SET(name, T)                                                                                    \
	AVX2 void kernels_gemm_##name##_avx2(GEMM_ARGS) { gemm_avx2(T, 0, GEMM_PASS); }                             \
	AVX512 void kernels_gemm_##name##_avx512(GEMM_ARGS) { gemm_avx512(T, 0, GEMM_PASS); }                    \
	AVX512 void kernels_gemm_##name##_vnni(GEMM_ARGS) { gemm_avx512(T, 1, GEMM_PASS); }

GEMM_SET(q8_0, T_Q8_0)
GEMM_SET(q4_0, T_Q4_0)
GEMM_SET(iq4_nl, T_IQ4_NL)
GEMM_SET(q4_k, T_Q4_K)
GEMM_SET(q5_0, T_Q5_0)
GEMM_SET(q6_k, T_Q6_K)
