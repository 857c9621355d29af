#version 450
// Attention of query row b = row0 + gl_WorkGroupID.y, head h (one
// workgroup each) over the cached keys and values: scores, softmax,
// weighted sum. Causal: row b sees positions 0..pos0+b, position x in
// cell x. Otherwise row b sees positions ranges[3b] up to ranges[3b+1]
// (exclusive) of its own sequence, whose page table starts at
// ranges[3b+2]: position x is in cell ranges[table + x/page] + x%page
// (the table holds the first cell of each page of the sequence's
// positions). Sequences of different lengths packed into one batch, each
// in its own pages, attend this way. Query heads share KV heads in groups
// (GQA).
//
// Fused and tiled (flash attention): the row's positions go by in tiles
// of TILE, from the first, so no score goes to a buffer (nor past its
// tile, but for HALF's KEPT) and the context is bounded by nothing here. A tile's scores (each invocation
// its own positions) go to shared memory, become weights there, and
// meet the values, each invocation summing the pairs of dimensions it
// owns (acc, in registers). Without HALF the softmax is online: with the
// tile's maximum the running maximum m grows, and the factor
// exp(m_old - m) rescales the value sums and the sum of weights kept so
// far; each invocation keeps its own share of that sum, taken over the
// workgroup once at the end. A tile costs the barriers of its maximum
// and one for its weights (none in a workgroup of one subgroup: SOLO).
//
// A row's arithmetic depends on its own query, keys and values only
// (tiles start at the row's first position, whatever other rows the
// batch holds and however its pages lie): the same bits in any batch.
//
// HALF follows llama.cpp's f16 KV cache (decoders; its BERT attention is
// f32): queries, keys and values are rounded to f16 as they are read
// (keys and values kept as f16 are f16 values already; HALF also serves
// an f32 cache that holds values not yet rounded), and the normalised
// weights before their product with v. Those exist only once the row's
// maximum and sum are known, so HALF takes two passes over the keys:
// the scores for the maximum and sum (each invocation its own positions,
// online), then the tiles again, each weight exp(s - max)/sum rounded as
// it is made (the scores of a row of at most KEPT positions kept in
// shared memory from the first pass, longer rows' computed again). Rounding the unnormalised
// weights instead (one pass) moved the logits of the random-weight
// llama3 models of model/llama's oracle test by up to 1.5 from
// llama.cpp's, where rounding as it does holds them to 1e-4.
//
// FLASH is llama.cpp's flash attention over an f16 cache (--flash-attn,
// compute.CacheShape.Flash): the queries rounded as HALF's, the weights
// not, so the softmax is online in one pass as without HALF. ROUNDED is
// HALF's two passes, which FLASH turns off.
//
// soft_cap > 0 maps the scaled scores s to soft_cap·tanh(s/soft_cap)
// before the softmax (Gemma 2).
//
// KV is how the cache keeps a cell's row of kv_stride values (store_kv):
// 0 f32, 1 f16 (value pairs in words), 2 q8_0 (int8 quants, then f16
// block scales two a word); keys and values are widened as read.
//
// DIMS bounds head_dim: each invocation holds the value sums of the
// pairs of dimensions tid + WG·j, j < PAIRS.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const bool HALF = false;
layout(constant_id = 2) const uint KV = 0;
layout(constant_id = 3) const uint TILE = 64; // positions a tile, a multiple of WG
layout(constant_id = 4) const uint DIMS = 128;
// SOLO: the workgroup is one subgroup (WG at most the subgroup size, on
// a CPU device, whose subgroup is a SIMD vector), which shares its
// maxima and weights without workgroup barriers. lavapipe keeps what a
// loop holding a barrier carries in memory (the barrier suspends a
// coroutine), which more than doubled this shader's time there.
layout(constant_id = 5) const bool SOLO = false;
// KEPT: HALF's first pass keeps the scores of a row of at most KEPT
// positions in shared memory for the second, which then computes none;
// longer rows compute them again (the same bits either way).
layout(constant_id = 6) const uint KEPT = 1;
layout(constant_id = 7) const bool FLASH = false;
const bool ROUNDED = HALF && !FLASH;
const uint PAIRS = (DIMS + 2u * WG - 1u) / (2u * WG);
#include "reduce.glsl"
#include "round.glsl"
#include "tanh.glsl"

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer KU { uint ku[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer VU { uint vu[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer R { uint ranges[]; };

layout(push_constant) uniform P {
	uint heads;
	uint kv_heads;
	uint head_dim;
	uint q_stride;  // elements between query (and output) rows
	uint kv_stride; // values of a cell's row
	uint kv_off;    // cells before position 0's in k and v
	uint pos0;
	uint causal;
	float scale;
	float soft_cap; // 0: none
	uint row0;      // the batch row of workgroup row 0
	uint page;      // cells of a page
} p;

// The tiles' scores, then weights: two tiles' worth, one written while
// the other may still be read (the next tile's publish stands between a
// tile's reads and the writes of the tile after next).
shared float pw[2 * TILE];
shared float kept[KEPT];

// SOLO keeps the query, rounded as the scores read it, in registers
// (qr): on lavapipe, shared memory loads gather lane by lane, and HALF's
// rounding at each use costs more than the product it feeds. A larger
// workgroup on a GPU reads it from q at each use instead of holding
// DIMS registers an invocation.
const uint QREGS = SOLO ? DIMS : 1u;
float qr[QREGS];

float half_(float x) {
	return HALF ? round_f16(x) : x;
}

// kv_half is half_ of a key or value as read: an f16 cache holds f16
// values already, which rounding leaves as they are, so it skips the
// rounding (most of a score's arithmetic otherwise).
float kv_half(float x) {
	return KV == 1u ? x : half_(x);
}

// kv_word is word w of the keys (key) or values.
uint kv_word(bool key, uint w) {
	return key ? ku[w] : vu[w];
}

// kv_load returns value e of cell c's row of keys (key) or values.
float kv_load(bool key, uint c, uint e) {
	if (KV == 0u) {
		uint i = c * p.kv_stride + e;
		return key ? k[i] : v[i];
	}
	if (KV == 1u) {
		return unpackHalf2x16(kv_word(key, c * (p.kv_stride / 2) + e / 2))[e & 1u];
	}
	uint row = c * (p.kv_stride / 4 + (p.kv_stride + 63) / 64);
	float q = float(bitfieldExtract(int(kv_word(key, row + e / 4)), int(8 * (e & 3u)), 8));
	return q * unpackHalf2x16(kv_word(key, row + p.kv_stride / 4 + e / 64))[(e / 32) & 1u];
}

// cell returns the cache cell of the row's key position x.
uint cell(bool causal, uint table, uint x) {
	return causal ? x : ranges[table + x / p.page] + x % p.page;
}

// tile_max is the workgroup's maximum of v.
float tile_max(float v) {
#if USE_SUBGROUPS
	if (SOLO) {
		return subgroupMax(v);
	}
#endif
	return wg_max(v);
}

// total is the workgroup's sum of v.
float total(float v) {
#if USE_SUBGROUPS
	if (SOLO) {
		return subgroupAdd(v);
	}
#endif
	return wg_sum(v);
}

// publish makes the shared memory written so far visible to the
// workgroup.
void publish() {
#if USE_SUBGROUPS
	if (SOLO) {
		subgroupMemoryBarrierShared();
		subgroupBarrier();
		return;
	}
#endif
	barrier();
}

// query returns element i of the query at qb, as the scores read it.
float query(uint qb, uint i) {
	return SOLO ? qr[i] : half_(q[qb + i]);
}

// score is the scaled (and capped) product of query qb with key kvh of
// cell c.
float score(uint c, uint qb, uint kvh) {
	float s = 0.0;
	uint i = 0;
	if (KV == 1u && (p.head_dim & 1u) == 0u) {
		// Two values a word: each word read and unpacked once, the
		// products added in the same order.
		uint w0 = c * (p.kv_stride / 2) + kvh / 2;
		for (; i < p.head_dim; i += 2) {
			vec2 kk = unpackHalf2x16(ku[w0 + i / 2]);
			s += query(qb, i) * kk.x;
			s += query(qb, i + 1) * kk.y;
		}
	}
	for (; i < p.head_dim; i++) {
		s += query(qb, i) * kv_half(kv_load(true, c, kvh + i));
	}
	s *= p.scale;
	if (p.soft_cap > 0.0) {
		s = tanh_finite(s * (1.0 / p.soft_cap)) * p.soft_cap;
	}
	return s;
}

void main() {
	uint h = gl_WorkGroupID.x, b = p.row0 + gl_WorkGroupID.y;
	uint tid = gl_LocalInvocationID.x;
	bool causal = p.causal != 0u;
	uint first = causal ? 0u : ranges[3 * b];
	uint span = causal ? p.pos0 + b + 1 : ranges[3 * b + 1] - first;
	uint table = causal ? 0u : ranges[3 * b + 2];
	uint qb = b * p.q_stride + h * p.head_dim;
	uint kvh = h / (p.heads / p.kv_heads) * p.head_dim;
	// A word holds the f16 pair of dimensions 2j, 2j+1 of a value row.
	bool words = KV == 1u && (p.head_dim & 1u) == 0u;

	if (SOLO) {
		for (uint i = 0; i < QREGS; i++) {
			qr[i] = i < p.head_dim ? half_(q[qb + i]) : 0.0;
		}
	}

	float m = -1.0 / 0.0; // the running maximum (ROUNDED: the row's)
	float sum = 0.0;      // this invocation's weights, at m
	float inv = 1.0;      // ROUNDED: 1/the row's sum of weights
	if (ROUNDED) {
		// The row's maximum and sum first, each invocation over its own
		// positions (no tiles), so that the normalised weights can be
		// rounded as llama.cpp rounds them.
		for (uint t = tid; t < span; t += WG) {
			float s = score(p.kv_off + cell(causal, table, first + t), qb, kvh);
			if (span <= KEPT) {
				kept[t] = s;
			}
			if (s > m) {
				sum *= exp(m - s);
				m = s;
			}
			sum += exp(s - m);
		}
		float top = tile_max(m);
		inv = 1.0 / total(sum * exp(m - top)); // an invocation with no positions adds 0·0
		m = top;
		publish();
	}
	vec2 acc[PAIRS];
	for (uint j = 0; j < PAIRS; j++) {
		acc[j] = vec2(0.0);
	}
	uint buf = 0;
	for (uint t0 = 0; t0 < span; t0 += TILE) {
		uint n = min(TILE, span - t0);
		float top = -1.0 / 0.0;
		for (uint t = tid; t < n; t += WG) {
			float s = ROUNDED && span <= KEPT ? kept[t0 + t] : score(p.kv_off + cell(causal, table, first + t0 + t), qb, kvh);
			pw[buf + t] = s;
			top = max(top, s);
		}
		if (!ROUNDED) {
			float mt = max(m, tile_max(top));
			if (mt > m) {
				float c = exp(m - mt); // 0 for the first tile
				m = mt;
				sum *= c;
				for (uint j = 0; j < PAIRS; j++) {
					acc[j] *= c;
				}
			}
		}
		for (uint t = tid; t < n; t += WG) {
			float e = exp(pw[buf + t] - m);
			if (ROUNDED) {
				pw[buf + t] = round_f16(e * inv);
			} else {
				sum += e;
				pw[buf + t] = e;
			}
		}
		publish();
		for (uint t = 0; t < n; t++) {
			uint c = p.kv_off + cell(causal, table, first + t0 + t);
			float w = pw[buf + t];
			for (uint j = 0; j < PAIRS; j++) {
				uint d = tid + WG * j; // the pair
				if (2 * d >= p.head_dim) {
					break;
				}
				vec2 x;
				if (words) {
					x = unpackHalf2x16(vu[c * (p.kv_stride / 2) + kvh / 2 + d]);
				} else {
					x.x = kv_half(kv_load(false, c, kvh + 2 * d));
					x.y = 2 * d + 1 < p.head_dim ? kv_half(kv_load(false, c, kvh + 2 * d + 1)) : 0.0;
				}
				acc[j] += w * x;
			}
		}
		buf ^= TILE;
	}
	// ROUNDED's weights are normalised already.
	inv = ROUNDED ? 1.0 : 1.0 / total(sum);
	for (uint j = 0; j < PAIRS; j++) {
		uint i = 2 * (tid + WG * j);
		if (i < p.head_dim) {
			o[qb + i] = acc[j].x * inv;
			if (i + 1 < p.head_dim) {
				o[qb + i + 1] = acc[j].y * inv;
			}
		}
	}
}
