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
// (GQA). Scores go to a scratch buffer, s_stride floats per (dispatched
// row, head), so the context is not bounded by shared memory.
//
// A row's arithmetic depends on its own query, keys and values only: the
// same bits whatever other rows the batch holds and however its pages lie.
//
// HALF follows llama.cpp's f16 KV cache (decoders; its BERT attention is
// f32): queries, keys and values are rounded to f16 as they are read, and
// the normalised weights before their product with v (keys and values
// kept as f16 are f16 values already; HALF also serves an f32 cache that
// holds values not yet rounded).
//
// soft_cap > 0 maps the scaled scores s to soft_cap·tanh(s/soft_cap)
// before the softmax (Gemma 2).
//
// KV is how the cache keeps a cell's row of kv_stride values (store_kv):
// 0 f32, 1 f16 (value pairs in words), 2 q8_0 (int8 quants, then f16
// block scales two a word); keys and values are widened as read.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const bool HALF = false;
layout(constant_id = 2) const uint KV = 0;
#include "reduce.glsl"
#include "round.glsl"
#include "tanh.glsl"

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer KU { uint ku[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 2) readonly buffer VU { uint vu[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) buffer S { float sc[]; };
layout(std430, binding = 5) readonly buffer R { uint ranges[]; };

layout(push_constant) uniform P {
	uint heads;
	uint kv_heads;
	uint head_dim;
	uint q_stride;  // elements between query (and output) rows
	uint kv_stride; // values of a cell's row
	uint kv_off;    // cells before position 0's in k and v
	uint pos0;
	uint causal;
	uint s_stride;  // scratch elements per (row, head)
	float scale;
	float soft_cap; // 0: none
	uint row0;      // the batch row of workgroup row 0
	uint page;      // cells of a page
} p;

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

void main() {
	uint h = gl_WorkGroupID.x, b = p.row0 + gl_WorkGroupID.y;
	uint tid = gl_LocalInvocationID.x;
	bool causal = p.causal != 0u;
	uint first = causal ? 0u : ranges[3 * b];
	uint span = causal ? p.pos0 + b + 1 : ranges[3 * b + 1] - first;
	uint table = causal ? 0u : ranges[3 * b + 2];
	uint qb = b * p.q_stride + h * p.head_dim;
	uint kvh = h / (p.heads / p.kv_heads) * p.head_dim;
	uint sb = (gl_WorkGroupID.y * p.heads + h) * p.s_stride;

	float m = -1.0 / 0.0;
	for (uint t = tid; t < span; t += WG) {
		uint c = p.kv_off + cell(causal, table, first + t);
		float s = 0.0;
		uint i = 0;
		if (KV == 1u && (p.head_dim & 1u) == 0u) {
			// Two values a word: each word read and unpacked once, the
			// products added in the same order.
			uint w0 = c * (p.kv_stride / 2) + kvh / 2;
			for (; i < p.head_dim; i += 2) {
				vec2 kk = unpackHalf2x16(ku[w0 + i / 2]);
				s += half_(q[qb + i]) * kk.x;
				s += half_(q[qb + i + 1]) * kk.y;
			}
		}
		for (; i < p.head_dim; i++) {
			s += half_(q[qb + i]) * kv_half(kv_load(true, c, kvh + i));
		}
		s *= p.scale;
		if (p.soft_cap > 0.0) {
			s = tanh_finite(s * (1.0 / p.soft_cap)) * p.soft_cap;
		}
		sc[sb + t] = s;
		m = max(m, s);
	}
	m = wg_max(m);
	float sum = 0.0;
	for (uint t = tid; t < span; t += WG) {
		float e = exp(sc[sb + t] - m);
		sc[sb + t] = e;
		sum += e;
	}
	sum = wg_sum(sum);
	float inv = 1.0 / sum;
	if (HALF) {
		for (uint t = tid; t < span; t += WG) {
			sc[sb + t] = round_f16(sc[sb + t] * inv);
		}
		inv = 1.0;
	}
	memoryBarrierBuffer();
	barrier();
	if (KV == 1u && (p.head_dim & 1u) == 0u) {
		// A pair of dimensions an invocation, from one word a position.
		for (uint i = 2 * tid; i < p.head_dim; i += 2 * WG) {
			vec2 acc = vec2(0.0);
			for (uint t = 0; t < span; t++) {
				uint c = p.kv_off + cell(causal, table, first + t);
				acc += sc[sb + t] * unpackHalf2x16(vu[c * (p.kv_stride / 2) + (kvh + i) / 2]);
			}
			o[qb + i] = acc.x * inv;
			o[qb + i + 1] = acc.y * inv;
		}
		return;
	}
	for (uint i = tid; i < p.head_dim; i += WG) {
		float acc = 0.0;
		for (uint t = 0; t < span; t++) {
			acc += sc[sb + t] * kv_half(kv_load(false, p.kv_off + cell(causal, table, first + t), kvh + i));
		}
		o[qb + i] = acc * inv;
	}
}
