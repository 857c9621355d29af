//go:build cgo

// AVX2+FMA+F16C matrix-vector kernels over row ranges. Each is compiled
// for those features by target attribute and called only when the CPU has
// them (kernels_supported). Layouts are ggml's; see quant/.

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd_amd64.h"

int kernels_supported(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

AVX2 void kernels_matvec_f32(const float *w, const float *x, float *y, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) y[r] = dot_f32(w + r * cols, x, (int)cols);
}

AVX2 static inline float dot_f16(const uint16_t *row, const float *x, long cols) {
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	long i = 0;
	for (; i + 16 <= cols; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i))), _mm256_loadu_ps(x + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i + 8))), _mm256_loadu_ps(x + i + 8), s1);
	}
	for (; i + 8 <= cols; i += 8) s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i))), _mm256_loadu_ps(x + i), s0);
	float s = hsum(_mm256_add_ps(s0, s1));
	if (i + 4 <= cols) {
		s += hsum4(_mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(row + i))), _mm_loadu_ps(x + i)));
		i += 4;
	}
	for (; i < cols; i++) s += _cvtsh_ss(row[i]) * x[i];
	return s;
}

AVX2 void kernels_matvec_f16(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) y[r] = dot_f16(w + r * cols, x, cols);
}

// Four inputs per call for F32 and F16 weights: each output is exactly
// the single-input kernel's (the same dot per input), with a quarter of
// the calls and each weight row read from memory once for all four.
AVX2 void kernels_matvec4_f32(const float *w, const float *x0, const float *x1, const float *x2, const float *x3,
                              float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) {
		const float *row = w + r * cols;
		y0[r] = dot_f32(row, x0, (int)cols);
		y1[r] = dot_f32(row, x1, (int)cols);
		y2[r] = dot_f32(row, x2, (int)cols);
		y3[r] = dot_f32(row, x3, (int)cols);
	}
}

AVX2 void kernels_matvec4_f16(const uint16_t *w, const float *x0, const float *x1, const float *x2, const float *x3,
                              float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) {
		const uint16_t *row = w + r * cols;
		y0[r] = dot_f16(row, x0, cols);
		y1[r] = dot_f16(row, x1, cols);
		y2[r] = dot_f16(row, x2, cols);
		y3[r] = dot_f16(row, x3, cols);
	}
}

// kernels_to_f16 stores x as f16 bits (nearest even) at out.
AVX2 void kernels_to_f16(const float *x, uint16_t *out, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

// out = x rounded to f16 (nearest even) and back, as ggml converts
// activations before an F16 dot.
AVX2 void kernels_round_f16(const float *x, float *out, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
	for (; i < n; i++) out[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

// The legacy types: Q4_0 (18-byte blocks: f16 d, nibble j and j+16
// sharing byte j, minus 8), Q5_0 (22 bytes: f16 d, 32 fifth bits, nibbles
// as Q4_0, minus 16) and Q8_0 (34 bytes: f16 d, 32 int8).
enum { Q4_0, Q5_0, Q8_0 };

static const long legacyBytes[] = {18, 22, 34};

// The 32 weights of a block as bytes for maddubs: Q4_0 and Q5_0 as their
// unsigned codes (the offset is applied to the sums), Q8_0 as |q| with
// the signs kept in sign for the activations.
AVX2 static inline __attribute__((always_inline)) __m256i legacy_unpack(int type, const uint8_t *blk, __m256i *sign) {
	const __m256i lowMask = _mm256_set1_epi8(0xF);
	if (type == Q8_0) {
		*sign = _mm256_loadu_si256((const __m256i *)(blk + 2));
		return _mm256_sign_epi8(*sign, *sign);
	}
	const __m128i packed = _mm_loadu_si128((const __m128i *)(blk + (type == Q5_0 ? 6 : 2)));
	__m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), lowMask);
	if (type == Q5_0) {
		// Spread bit j of the 32 fifth bits to byte j, as 16 where set.
		const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000);
		const __m256i bitOf = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
		uint32_t qh;
		memcpy(&qh, blk + 2, 4);
		__m256i bits = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
		bits = _mm256_cmpeq_epi8(_mm256_and_si256(bits, bitOf), bitOf);
		q = _mm256_or_si256(q, _mm256_and_si256(bits, _mm256_set1_epi8(16)));
	}
	return q;
}

// Legacy-type weights times n (1 or 4) Q8_0-quantized inputs (input k's
// blocks at xq + k*xqs, its scales and sums at xd, xs + k*xds). Blocks go
// eight at a time: each block's integer dot stays in vector lanes, the
// eight are summed across lanes together, the Q4_0/Q5_0 offset comes off
// as 8 or 16 times the activation blocks' sums, and one multiply-add by
// the weight scales times the activation scales adds the group. A weight
// block is unpacked once for the n inputs, and each input's arithmetic is
// the same for n = 1 and 4, so a batch gives what single inputs do.
AVX2 static inline __attribute__((always_inline)) void legacy_n(int type, const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds,
                                                                float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb, int n) {
	const long bs = legacyBytes[type];
	const __m256i ones = _mm256_set1_epi16(1);
	const int shift = type == Q4_0 ? 3 : 4; // offsets 8 and 16
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nb * bs;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long g = 0; g < nb; g += 8) {
			const int m = nb - g < 8 ? (int)(nb - g) : 8;
			prefetch_span(row + g * bs, 8 * bs);
			const __m256 dw = block_scales(row + g * bs, bs, m);
			const __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
			__m256i q[8], sign[8];
			_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
				q[j] = j < m ? legacy_unpack(type, row + (g + j) * bs, &sign[j]) : _mm256_setzero_si256();
			}
			_Pragma("GCC unroll 4") for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + g * 32;
				__m256i p[8];
				_Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
					if (j >= m) {
						p[j] = _mm256_setzero_si256();
						continue;
					}
					__m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * j));
					if (type == Q8_0) xv = _mm256_sign_epi8(xv, sign[j]);
					p[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], xv), ones);
				}
				__m256i sums = hsum8_epi32(p);
				if (type != Q8_0) {
					const __m256i xsum = _mm256_maskload_epi32((const int *)(xs + k * xds + g), lanes);
					sums = _mm256_sub_epi32(sums, _mm256_slli_epi32(xsum, shift));
				}
				const __m256 dx = _mm256_maskload_ps(xd + k * xds + g, lanes);
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, dx), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec_q8_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb) {
	legacy_n(Q8_0, w, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nb, 1);
}

AVX2 void kernels_matvec_q4_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb) {
	legacy_n(Q4_0, w, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nb, 1);
}

AVX2 void kernels_matvec_q5_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb) {
	legacy_n(Q5_0, w, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nb, 1);
}

AVX2 void kernels_matvec4_q8_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	legacy_n(Q8_0, w, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}

AVX2 void kernels_matvec4_q4_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	legacy_n(Q4_0, w, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}

AVX2 void kernels_matvec4_q5_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb) {
	legacy_n(Q5_0, w, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nb, 4);
}

// Eight bytes as eight floats.
AVX2 static inline __m256 u8x8_ps(uint64_t v) {
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)));
}

// Q4_K (q5 = 0) and Q5_K (q5 = 1) for n (1 or 4) inputs; xs + k*xds
// holds input k's block sums. A Q4_K super-block is d, dmin, 12 bytes of
// 6-bit scales and mins, 128 bytes of nibbles; Q5_K puts 32 bytes of fifth
// bits (bit s of byte l for element l of sub-block s) before the nibbles.
// Sub-block s (32 elements, activation block b) adds
//   xd[b]·d·scale_s·Σ q·xq − xd[b]·dmin·min_s·xs[b].
// The eight sub-blocks' integer dots are summed across lanes together, so
// the scales, mins and activation scales meet them as vectors of eight:
// two multiply-adds per super-block and input.
AVX2 static inline __attribute__((always_inline)) void kernels_matvec_k45_n(const uint8_t *w, int q5, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m256i lowMask = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1), one = _mm256_set1_epi8(1);
	const long sbBytes = q5 ? 176 : 144;
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * sbBytes;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * sbBytes;
			prefetch_span(blk, sbBytes);
			uint64_t sc, mn;
			k4_scales(blk + 4, &sc, &mn);
			const __m256 dsc = _mm256_mul_ps(_mm256_set1_ps(f16_at(blk)), u8x8_ps(sc));
			const __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(f16_at(blk + 2)), u8x8_ps(mn));
			const uint8_t *qs = blk + (q5 ? 48 : 16);
			const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
			__m256i q[8];
			_Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
				q[2 * j] = _mm256_and_si256(v, lowMask);
				q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lowMask);
				if (q5) {
					q[2 * j] = _mm256_or_si256(q[2 * j], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
					q[2 * j + 1] = _mm256_or_si256(q[2 * j + 1], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
				}
			}
			for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m256i p[8];
				_Pragma("GCC unroll 8") for (int s = 0; s < 8; s++) p[s] = _mm256_madd_epi16(_mm256_maddubs_epi16(q[s], _mm256_loadu_si256((const __m256i *)(x + 32 * s))), ones);
				const __m256 xdv = _mm256_loadu_ps(xd + k * xds + sb * 8);
				const __m256 xsv = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(xs + k * xds + sb * 8)));
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(p)), _mm256_mul_ps(dsc, xdv), acc[k]);
				acc[k] = _mm256_fnmadd_ps(dmn, _mm256_mul_ps(xdv, xsv), acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec4_q4_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	kernels_matvec_k45_n(w, 0, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

// Q6_K weights (210-byte super-blocks) times Q8_0-quantized activations,
// for n (1 or 4) inputs. In each half of a super-block, byte l of ql/qh
// holds element l of four 32-element groups (a nibble of ql[l] or
// ql[l+32], two bits of qh[l]), q − 32 the weight; each 16 elements have
// an int8 scale. A group is one activation block: its products meet the
// scales in the integer multiply-add (the offset of 32 likewise), and the
// eight groups of a super-block are summed across lanes together, so the
// activation scales enter as one vector: one multiply-add per super-block
// and input.
AVX2 static inline __attribute__((always_inline)) void kernels_matvec4_q6_k_n(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb, int n) {
	const __m256i lowMask = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3), ones8 = _mm256_set1_epi8(1);
	float *ys[4] = {y0, y1, y2, y3};
	for (long r = lo; r < hi; r++) {
		const uint8_t *row = w + r * nsb * 210;
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
		for (long sb = 0; sb < nsb; sb++) {
			const uint8_t *blk = row + sb * 210;
			prefetch_span(blk, 210);
			const __m256 d = _mm256_set1_ps(f16_at(blk + 208));
			const int8_t *sc = (const int8_t *)(blk + 192);
			__m256i q[8], scale[8];
			_Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
				const uint8_t *ql = blk + 64 * half;
				const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * half));
				_Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
					__m256i l = _mm256_loadu_si256((const __m256i *)(ql + 32 * (g & 1)));
					if (g >= 2) l = _mm256_srli_epi16(l, 4);
					const int G = 4 * half + g;
					q[G] = _mm256_or_si256(_mm256_and_si256(l, lowMask), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * g), three), 4));
					scale[G] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * G + 1]), _mm_set1_epi16(sc[2 * G]));
				}
			}
			for (int k = 0; k < n; k++) {
				const int8_t *x = xq + k * xqs + sb * 256;
				__m256i p[8];
				_Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
					const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * g));
					const __m256i qx = _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), scale[g]);
					const __m256i off = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), scale[g]);
					p[g] = _mm256_sub_epi32(qx, _mm256_slli_epi32(off, 5));
				}
				const __m256 xdv = _mm256_mul_ps(d, _mm256_loadu_ps(xd + k * xds + sb * 8));
				acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(p)), xdv, acc[k]);
			}
		}
		for (int k = 0; k < n; k++) ys[k][r] = hsum(acc[k]);
	}
}

AVX2 void kernels_matvec4_q6_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	kernels_matvec4_q6_k_n(w, xq, xqs, xd, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

AVX2 void kernels_matvec4_q5_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb) {
	kernels_matvec_k45_n(w, 1, xq, xqs, xd, xs, xds, y0, y1, y2, y3, lo, hi, nsb, 4);
}

// Q5_K weights times Q8_0-quantized activations: one input.
AVX2 void kernels_matvec_q5_k(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb) {
	kernels_matvec_k45_n(w, 1, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nsb, 1);
}

// BF16 weights: widened to f32 by a shift, times an input already rounded
// to bf16 (as ggml rounds it).
AVX2 void kernels_matvec_bf16(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols) {
	for (long r = lo; r < hi; r++) {
		const uint16_t *row = w + r * cols;
		__m256 acc = _mm256_setzero_ps();
		long c = 0;
		for (; c + 8 <= cols; c += 8) {
			__m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + c)));
			__m256 wv = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
			acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + c), acc);
		}
		float s = hsum(acc);
		for (; c < cols; c++) {
			uint32_t bits = (uint32_t)row[c] << 16;
			float wf;
			memcpy(&wf, &bits, 4);
			s += wf * x[c];
		}
		y[r] = s;
	}
}

// Q4_K weights (144-byte super-blocks of 256) times activations quantized
// to Q8_0 blocks (xq, xd) with their integer sums xs: one input.
AVX2 void kernels_matvec_q4_k(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb) {
	kernels_matvec_k45_n(w, 0, xq, 0, xd, xs, 0, y, y, y, y, lo, hi, nsb, 1);
}

// Q6_K weights (210-byte super-blocks) times Q8_0-quantized activations:
// one input.
AVX2 void kernels_matvec_q6_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb) {
	kernels_matvec4_q6_k_n(w, xq, 0, xd, 0, y, y, y, y, lo, hi, nsb, 1);
}

// out = x / rms(x) * w over n elements.
AVX2 void kernels_rmsnorm(float *out, const float *x, const float *w, long n, float eps) {
	__m256 acc = _mm256_setzero_ps();
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		acc = _mm256_fmadd_ps(v, v, acc);
	}
	float ss = hsum(acc);
	for (; i < n; i++) ss += x[i] * x[i];
	const float scale = 1.0f / sqrtf(ss / (float)n + eps);
	const __m256 sv = _mm256_set1_ps(scale);
	for (i = 0; i + 8 <= n; i += 8) {
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _mm256_loadu_ps(w + i)));
	}
	for (; i < n; i++) out[i] = x[i] * scale * w[i];
}

// g = silu(g) * u over n elements.
AVX2 void kernels_silu_mul(float *g, const float *u, long n) {
	const __m256 one = _mm256_set1_ps(1.0f);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(g + i);
		__m256 s = _mm256_div_ps(v, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), v))));
		_mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
	}
	for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

// kernels_argmax is Argmax over n > 0 values: their largest (max_ps keeps
// its second operand when the first is NaN, so NaNs are skipped), then
// the first index holding it. A maximum is the same in any order, so the
// index is the scalar loop's.
AVX2 long kernels_argmax(const float *x, long n) {
	__m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
	long i = 0;
	for (; i + 32 <= n; i += 32) {
		m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
		m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
		m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
		m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
	}
	for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
	float lanes[8];
	_mm256_storeu_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
	float top = -INFINITY;
	for (int l = 0; l < 8; l++) top = lanes[l] > top ? lanes[l] : top;
	for (; i < n; i++) top = x[i] > top ? x[i] : top;
	const __m256 tv = _mm256_set1_ps(top);
	for (i = 0; i + 8 <= n; i += 8) {
		const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_EQ_OQ));
		if (hit) return i + __builtin_ctz(hit);
	}
	for (; i < n; i++) {
		if (x[i] == top) return i;
	}
	return 0; // no number: every value NaN
}

// kernels_above writes to ids the index of each of x's n values greater
// than floor (an ordered compare: NaN on either side is false), in order,
// and returns how many.
AVX2 long kernels_above(const float *x, long n, float floor, int32_t *ids) {
	const __m256 fv = _mm256_set1_ps(floor);
	long m = 0, i = 0;
	for (; i + 8 <= n; i += 8) {
		unsigned hit = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), fv, _CMP_GT_OQ));
		while (hit) {
			ids[m++] = (int32_t)(i + __builtin_ctz(hit));
			hit &= hit - 1;
		}
	}
	for (; i < n; i++) {
		if (x[i] > floor) ids[m++] = (int32_t)i;
	}
	return m;
}

// x = softmax(x) over n > 0 elements.
AVX2 void kernels_softmax(float *x, long n) {
	// The largest score, 8 lanes at a time: a maximum is the same in any
	// order (max_ps keeps its second operand when the first is NaN, as
	// the scalar comparison skips a NaN).
	float top = x[0];
	long j = 0;
	if (n >= 8) {
		__m256 m = _mm256_loadu_ps(x);
		for (j = 8; j + 8 <= n; j += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + j), m);
		float lanes[8];
		_mm256_storeu_ps(lanes, m);
		for (int l = 0; l < 8; l++) top = lanes[l] > top ? lanes[l] : top;
	}
	for (; j < n; j++) top = x[j] > top ? x[j] : top;
	const __m256 tv = _mm256_set1_ps(top);
	__m256 acc = _mm256_setzero_ps();
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), tv));
		_mm256_storeu_ps(x + i, e);
		acc = _mm256_add_ps(acc, e);
	}
	float sum = hsum(acc);
	for (; i < n; i++) {
		x[i] = expf(x[i] - top);
		sum += x[i];
	}
	const __m256 inv = _mm256_set1_ps(1.0f / sum);
	for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
	for (; i < n; i++) x[i] *= 1.0f / sum;
}

// dst += src over n elements.
AVX2 void kernels_add(float *dst, const float *src, long n) {
	long i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
	for (; i < n; i++) dst[i] += src[i];
}

// kernels_quantize_q8 quantizes nb blocks of 32 floats to int8 with one
// scale per block (amax/127, rounded to nearest even as ggml's AVX2 path
// does) and each block's integer sum.
AVX2 void kernels_quantize_q8(const float *x, int8_t *xq, float *xd, int32_t *xs, long nb) {
	const __m256 signBit = _mm256_set1_ps(-0.0f);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (long b = 0; b < nb; b++) {
		const float *blk = x + 32 * b;
		__m256 v0 = _mm256_loadu_ps(blk), v1 = _mm256_loadu_ps(blk + 8), v2 = _mm256_loadu_ps(blk + 16), v3 = _mm256_loadu_ps(blk + 24);
		__m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signBit, v0), _mm256_andnot_ps(signBit, v1)),
		                         _mm256_max_ps(_mm256_andnot_ps(signBit, v2), _mm256_andnot_ps(signBit, v3)));
		__m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
		m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
		const float amax = _mm_cvtss_f32(m4);
		const float d = amax / 127.0f;
		xd[b] = d;
		const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
		__m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		__m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
		__m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
		xs[b] = _mm_cvtsi128_si32(s4);
		// Pack to bytes; the packs work within 128-bit lanes, the permute
		// puts the eight 4-byte groups back in order.
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
		_mm256_storeu_si256((__m256i *)(xq + 32 * b), _mm256_permutevar8x32_epi32(p, perm));
	}
}

// kernels_quantize_q8k quantizes nsb super-blocks of 256 floats as ggml's
// Q8_K (quant.QuantizeQ8K, bit for bit): m is the first value of largest
// magnitude, q = round-half-even(-127/m · x) (the int8 packing's
// saturation caps it at 127), and each of the eight 32-blocks gets the
// scale 1/(-127/m) and its integer sum.
AVX2 void kernels_quantize_q8k(const float *x, int8_t *xq, float *xd, int32_t *xs, long nsb) {
	const __m256 signBit = _mm256_set1_ps(-0.0f);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (long sb = 0; sb < nsb; sb++) {
		const float *blk = x + 256 * sb;
		__m256 m = _mm256_setzero_ps();
		for (int i = 0; i < 256; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signBit, _mm256_loadu_ps(blk + i)));
		__m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
		m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
		const float amax = _mm_cvtss_f32(m4);
		float iscale = 0.0f, d = 0.0f;
		if (amax != 0.0f) {
			int i = 0;
			while (fabsf(blk[i]) != amax) i++;
			iscale = -127.0f / blk[i];
			d = 1.0f / iscale;
		}
		const __m256 is = _mm256_set1_ps(iscale);
		for (int b = 0; b < 8; b++) {
			const float *v = blk + 32 * b;
			__m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(v)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			__m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(v + 8)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			__m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(v + 16)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			__m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(v + 24)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			__m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
			__m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
			s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
			s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
			xs[sb * 8 + b] = _mm_cvtsi128_si32(s4);
			xd[sb * 8 + b] = d;
			__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
			_mm256_storeu_si256((__m256i *)(xq + 256 * sb + 32 * b), _mm256_permutevar8x32_epi32(p, perm));
		}
	}
}
