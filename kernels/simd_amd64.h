// Helpers shared by the C kernels of this package: the target
// attributes, horizontal sums, f32 dot product, block scales and a vector
// exp.

#ifndef KERNELS_SIMD_AMD64_H
#define KERNELS_SIMD_AMD64_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

// VNNI kernels add AVX-512 F/BW/VL and VNNI to AVX2's features (VL for
// vpdpbusd on 256-bit vectors), so the AVX2 helpers inline into them.
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

AVX2 static inline float hsum4(__m128 s) {
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2 static inline float hsum(__m256 v) { return hsum4(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

// dot_f32 sums in 32-wide steps, then 8- and 4-wide, so narrow rows
// (a tiny model's, a head's) stay in vector registers too.
AVX2 static inline float dot_f32(const float *a, const float *b, int n) {
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	if (i + 4 <= n) {
		s += hsum4(_mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
		i += 4;
	}
	for (; i < n; i++) s += a[i] * b[i];
	return s;
}

// Lane s of the result is the sum of the lanes of p[s].
AVX2 static inline __m256i hsum8_epi32(const __m256i p[8]) {
	__m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
	__m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
	return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// How far ahead of the block being read a matrix kernel prefetches its
// weights. A row's weights are one sequential stream, but the hardware
// prefetcher alone kept a core's kernel at about half the memory's read
// rate (the arithmetic and the misses did not overlap); a few KiB ahead,
// software prefetches brought it close to the read rate on the AVX-512
// machine of issue 19 (measured on a busy machine: direction only).
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 4096
#endif

// Prefetches the cache lines that bytes at p, PREFETCH_AHEAD on, touch:
// each line once over a stream of spans (2 or 3 for a 144-byte span).
AVX2 static inline __attribute__((always_inline)) void prefetch_span(const uint8_t *p, long bytes) {
	const uintptr_t end = (uintptr_t)p + PREFETCH_AHEAD + (uintptr_t)bytes;
	for (uintptr_t a = ((uintptr_t)p + PREFETCH_AHEAD) & ~(uintptr_t)63; a < end; a += 64) _mm_prefetch((const char *)a, _MM_HINT_T0);
}

// The f16 value at p as a float.
AVX2 static inline float f16_at(const uint8_t *p) {
	uint16_t h;
	memcpy(&h, p, 2);
	return _cvtsh_ss(h);
}

// The f16 scales of m (<= 8) blocks bs bytes apart as floats, 0 past m.
AVX2 static inline __m256 block_scales(const uint8_t *blk, long bs, int m) {
	uint16_t h[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	for (int j = 0; j < m; j++) memcpy(&h[j], blk + j * bs, 2);
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

// exp of 8 floats: x = n·ln2 + r with |r| <= ln2/2, e^r by a degree-6
// polynomial (Cephes' expf coefficients, within 2 ulp), 2^n through the
// exponent bits. Inputs are clamped to ±88.37, where expf overflows.
AVX2 static inline __m256 exp_ps(__m256 x) {
	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
	__m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Q4_K's and Q5_K's eight 6-bit scales and mins, as bytes of *sc and
// *mn, from the 12 bytes at p as ggml packs them: s < 4 in the low bits
// of bytes s and s+4, s >= 4 in the nibbles of byte s+4 with two high
// bits from bytes s-4 and s.
static inline __attribute__((always_inline)) void k4_scales(const uint8_t *p, uint64_t *sc, uint64_t *mn) {
	uint32_t u[3];
	memcpy(u, p, 12);
	*sc = (uint64_t)(u[0] & 0x3f3f3f3f) | (uint64_t)((u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4) << 32;
	*mn = (uint64_t)(u[1] & 0x3f3f3f3f) | (uint64_t)(((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4) << 32;
}

// Q3_K's sixteen 6-bit scales less 32, as bytes 0..15: bytes 0..7 of p
// hold the low nibbles of scales 0..7 (low) and 8..15 (high); byte 8+i
// holds the top two bits of scales i, i+4, i+8, i+12 at bits 0, 2, 4, 6.
AVX2 static inline __m128i k3_scales(const uint8_t *p) {
	const uint64_t nib = 0x0f0f0f0f0f0f0f0full;
	const uint32_t two = 0x03030303u;
	uint64_t a;
	uint32_t h;
	memcpy(&a, p, 8);
	memcpy(&h, p + 8, 4);
	const uint64_t s0 = (a & nib) | ((uint64_t)((h >> 2) & two) << 32 | (h & two)) << 4;
	const uint64_t s1 = ((a >> 4) & nib) | ((uint64_t)((h >> 6) & two) << 32 | ((h >> 4) & two)) << 4;
	return _mm_sub_epi8(_mm_set_epi64x((long long)s1, (long long)s0), _mm_set1_epi8(32));
}

void kernels_softmax(float *x, long n);
int kernels_supported(void);
void kernels_round_f16(const float *x, float *out, long n);

#endif
