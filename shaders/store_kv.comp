#version 450
// Stores token b's keys and values (rows of width values of K and V)
// into cell cells[b] of a KV cache layer kept as f16 (TYPE 1) or q8_0
// (TYPE 2); an f32 cache is stored by buffer copies instead. One
// workgroup row per token; each invocation writes whole 32-bit words, so
// no two write the same word:
//   - f16: row of width/2 words, value pairs packed (packHalf2x16 of
//     values already rounded to f16 nearest-even, so the device's rounding
//     mode never matters);
//   - q8_0: row of width/4 words of int8 quants, then (width+63)/64 words
//     of f16 block scales, two a word: ggml's Q8_0 per block of 32 (d =
//     max|x|/127 kept as f16, q = round(x/d) halves away from zero), each
//     invocation two blocks (one scale word).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint TYPE = 1;
#include "round.glsl"

layout(std430, binding = 0) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) writeonly buffer KC { uint kc[]; };
layout(std430, binding = 3) writeonly buffer VC { uint vc[]; };
layout(std430, binding = 4) readonly buffer C { uint cells[]; };

layout(push_constant) uniform P {
	uint width;  // values a row
	uint stride; // elements between tokens' rows in K and V
} p;

// row_words is the 32-bit words of one cell's row.
uint row_words() {
	return TYPE == 1u ? p.width / 2 : p.width / 4 + (p.width + 63) / 64;
}

// round_away is x rounded to the nearest integer, halves away from zero.
float round_away(float x) {
	float t = trunc(x);
	return abs(x - t) >= 0.5 ? t + sign(x) : t;
}

// quant8 quantizes the 32 values at o of K (key) or V into the quant
// words at q0 of the same side's cache and returns the block's scale,
// rounded to f16.
float quant8(bool key, uint o, uint q0) {
	float amax = 0.0;
	for (uint j = 0; j < 32; j++) {
		amax = max(amax, abs(key ? k[o + j] : v[o + j]));
	}
	float d = amax / 127.0;
	float id = d != 0.0 ? 1.0 / d : 0.0;
	for (uint w = 0; w < 8; w++) {
		uint word = 0;
		for (uint j = 0; j < 4; j++) {
			float x = key ? k[o + 4 * w + j] : v[o + 4 * w + j];
			word |= (uint(int(round_away(x * id))) & 0xffu) << (8 * j);
		}
		if (key) {
			kc[q0 + w] = word;
		} else {
			vc[q0 + w] = word;
		}
	}
	return round_f16(d);
}

void main() {
	uint b = gl_WorkGroupID.y;
	uint base = cells[b] * row_words(), src = b * p.stride;
	if (TYPE == 1u) {
		for (uint w = gl_LocalInvocationID.x; w < p.width / 2; w += 64) {
			uint o = src + 2 * w;
			kc[base + w] = packHalf2x16(vec2(round_f16(k[o]), round_f16(k[o + 1])));
			vc[base + w] = packHalf2x16(vec2(round_f16(v[o]), round_f16(v[o + 1])));
		}
		return;
	}
	uint blocks = p.width / 32, scales = base + p.width / 4;
	for (uint w = gl_LocalInvocationID.x; w < (blocks + 1) / 2; w += 64) {
		for (uint side = 0; side < 2; side++) {
			bool key = side == 0u;
			vec2 d = vec2(0.0);
			for (uint h = 0; h < 2 && 2 * w + h < blocks; h++) {
				uint blk = 2 * w + h;
				d[h] = quant8(key, src + 32 * blk, base + 8 * blk);
			}
			if (key) {
				kc[scales + w] = packHalf2x16(d);
			} else {
				vc[scales + w] = packHalf2x16(d);
			}
		}
	}
}
