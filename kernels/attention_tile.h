// The tile attention's passes over keys and values (kernels_attend_tile_f16
// in attention_amd64.c), written once for a vector of T_W floats: the
// includer defines T_W (8: AVX2, 16: AVX-512), T_TARGET, TV and the T_
// operations, and T_(name) suffixes each function for the width.

// row is values d.. of row t of r, a vector's worth.
T_TARGET static inline __attribute__((always_inline)) TV T_(row)(tile_rows r, long t, long d, const int half) {
	return half ? T_HALF(r.h[t] + r.off + d) : T_LOAD(r.f + t * r.pad + d);
}

// tile_scores8 returns the dots of q (pad floats) with rows t0..t0+7 of
// r, a lane a key: each added in dimension order per lane and then across
// its lanes by one tree (a wider vector's halves added first).
T_TARGET static inline __attribute__((always_inline)) __m256 T_(tile_scores8)(const float *q, tile_rows r, long t0, long pad, const int half) {
	TV a0 = T_ZERO(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	for (long d = 0; d < pad; d += T_W) {
		const TV qv = T_LOAD(q + d);
		a0 = T_FMA(qv, T_(row)(r, t0, d, half), a0);
		a1 = T_FMA(qv, T_(row)(r, t0 + 1, d, half), a1);
		a2 = T_FMA(qv, T_(row)(r, t0 + 2, d, half), a2);
		a3 = T_FMA(qv, T_(row)(r, t0 + 3, d, half), a3);
		a4 = T_FMA(qv, T_(row)(r, t0 + 4, d, half), a4);
		a5 = T_FMA(qv, T_(row)(r, t0 + 5, d, half), a5);
		a6 = T_FMA(qv, T_(row)(r, t0 + 6, d, half), a6);
		a7 = T_FMA(qv, T_(row)(r, t0 + 7, d, half), a7);
	}
	const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(T_TO8(a0), T_TO8(a1)), _mm256_hadd_ps(T_TO8(a2), T_TO8(a3)));
	const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(T_TO8(a4), T_TO8(a5)), _mm256_hadd_ps(T_TO8(a6), T_TO8(a7)));
	return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

// tile_av adds Σ_t p[t]·v_t to acc (w vectors, from dimension d0) over
// rows 0..n-1 of r, after scaling acc by c. A narrow head (w <= 6) keeps
// two chains a vector, even and odd positions, added at the end, so
// successive positions do not wait on each other's adds.
T_TARGET static inline __attribute__((always_inline)) void T_(tile_av)(float *acc, const float *p, tile_rows r, long d0, long n, float c, const int w, const int half) {
	TV a[8], b[6];
	const TV cv = T_SET1(c);
	_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = T_MUL(T_LOAD(acc + T_W * u), cv);
	long t = 0;
	if (w <= 6) {
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) b[u] = T_ZERO();
		for (; t + 2 <= n; t += 2) {
			const TV p0 = T_SET1(p[t]), p1 = T_SET1(p[t + 1]);
			_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) {
				a[u] = T_FMA(p0, T_(row)(r, t, d0 + T_W * u, half), a[u]);
				b[u] = T_FMA(p1, T_(row)(r, t + 1, d0 + T_W * u, half), b[u]);
			}
		}
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = T_ADD(a[u], b[u]);
	}
	for (; t < n; t++) {
		const TV pv = T_SET1(p[t]);
		_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) a[u] = T_FMA(pv, T_(row)(r, t, d0 + T_W * u, half), a[u]);
	}
	_Pragma("GCC unroll 8") for (int u = 0; u < w; u++) T_STORE(acc + T_W * u, a[u]);
}

// tile_av_all is tile_av over all pad dimensions, 8 vectors at a time.
T_TARGET static inline __attribute__((always_inline)) void T_(tile_av_all)(float *acc, const float *p, tile_rows r, long pad, long n, float c, const int half) {
	long d = 0;
	for (; d + 8 * T_W <= pad; d += 8 * T_W) T_(tile_av)(acc + d, p, r, d, n, c, 8, half);
	switch ((pad - d) / T_W) {
	case 1: T_(tile_av)(acc + d, p, r, d, n, c, 1, half); break;
	case 2: T_(tile_av)(acc + d, p, r, d, n, c, 2, half); break;
	case 3: T_(tile_av)(acc + d, p, r, d, n, c, 3, half); break;
	case 4: T_(tile_av)(acc + d, p, r, d, n, c, 4, half); break;
	case 5: T_(tile_av)(acc + d, p, r, d, n, c, 5, half); break;
	case 6: T_(tile_av)(acc + d, p, r, d, n, c, 6, half); break;
	case 7: T_(tile_av)(acc + d, p, r, d, n, c, 7, half); break;
	}
}

// tile_block gathers the n rows of positions b0.. (the runs walked from
// *run, *in) into r: widened into its f rows, zero past n to a whole 8
// (keys, whose scores run 8 at a time), or (half) as pointers, past n the
// first row again. In place, it prefetches the wide values each row's
// queries read, and the same of later's rows (the values a later pass
// reads) into L2: the rows of a long cache are strided reads the
// hardware's prefetch does not keep up with.
T_TARGET static inline __attribute__((always_inline)) void T_(tile_block)(float *f, const uint16_t **h, const uint16_t *src, const uint16_t *later, long stride, long hd, long wide, long pad, const long *runs, long *run, long *in, long n, int zero, const int half) {
	for (long i = 0; i < n; i++) {
		while (runs[2 * *run + 1] == 0) ++*run;
		const long at = (runs[2 * *run] + *in) * stride;
		const uint16_t *row = src + at;
		if (half) {
			h[i] = row;
			tile_prefetch(row, wide, _MM_HINT_T0);
			if (later) tile_prefetch(later + at, wide, _MM_HINT_T1);
		}
		else tile_widen(f + i * pad, row, hd, pad);
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
// its rows read widened (half 0, one KV head) or in place (half 1, nkv
// KV heads, each row's prefetched whole).
T_TARGET static inline __attribute__((always_inline)) void T_(tile_pass)(float *qs, long per, long nq, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, long pad, const long *runs, float scale, long block, int online, float *kb, float *vb, const int half) {
	const uint16_t *kh[64], *vh[64];
	tile_rows kr = {kb, kh, pad, 0}, vr = {vb, vh, pad, 0};
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	// Pass over the keys: scores (online: folded into the running output
	// block by block, so the values are read in the same pass).
	long run = 0, in = 0, vrun = 0, vin = 0;
	for (long b0 = 0; b0 < longest; b0 += block) {
		const long n = longest - b0 < block ? longest - b0 : block;
		T_(tile_block)(kb, kh, k, online ? 0 : v, stride, hd, nkv * hd, pad, runs, &run, &in, n, 1, half);
		if (online) T_(tile_block)(vb, vh, v, 0, stride, hd, nkv * hd, pad, runs, &vrun, &vin, n, 0, half);
		for (long j = 0; j < nq; j++) {
			const long span = spans[j / ng];
			if (span <= b0) continue;
			const long nj = span - b0 < block ? span - b0 : block;
			kr.off = vr.off = j % ng / (ng / nkv) * hd;
			float *qp = qs + j * per, *acc = qp + pad, *ml = acc + pad, *s = ml + 2 + (online ? 0 : b0);
			__m256 mv = _mm256_set1_ps(-INFINITY);
			for (long t0 = 0; t0 < nj; t0 += 8) {
				__m256 sv = _mm256_mul_ps(T_(tile_scores8)(qp, kr, t0, pad, half), _mm256_set1_ps(scale));
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
			T_(tile_av_all)(acc, s, vr, pad, nj, c, half);
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
		T_(tile_block)(vb, vh, v, 0, stride, hd, nkv * hd, pad, runs, &vrun, &vin, n, 0, half);
		for (long j = 0; j < nq; j++) {
			const long span = spans[j / ng];
			if (span <= b0) continue;
			float *acc = qs + j * per + pad;
			vr.off = j % ng / (ng / nkv) * hd;
			T_(tile_av_all)(acc, acc + pad + 2 + b0, vr, pad, span - b0 < block ? span - b0 : block, 1, half);
		}
	}
}

