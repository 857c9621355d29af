#version 450
// The parts of a mixture-of-experts feed-forward (compute.OpMoE) that are
// not matmuls, by p.op:
//   0 route: per token t (count tokens), o[t·experts + e] = the weight
//     of expert e (0 unless chosen), from the router logits a: softmax,
//     the used highest (ties to the lower index), renormalised when
//     p.renorm, as compute.Route. One invocation per token: experts is
//     small, and every expert's hidden rows run anyway.
//   1 silu: o = silu(o) · a over count values, rounded to f16 when
//     p.half (an F16 down stack's input, as ggml's mul_mat_id).
//   2 round: o = round_f16(a) over count values (an F16 stack's input).
//   3 accumulate: o[i] (+)= b[t·experts + p.expert] · a[i], t = i/width,
//     assigning for expert 0.
// The sums and products are precise: no fused multiply-add, so a token's
// output is the reference's sum of its chosen experts' rounded terms
// (the unchosen add exact zeros).

#extension GL_GOOGLE_include_directive : require

#include "round.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform P {
	uint count;
	uint op;
	uint experts;
	uint used;
	uint renorm;
	uint half_;
	uint width;
	uint expert;
} p;

const uint SIGN = 0x80000000u;

void route(uint t) {
	uint base = t * p.experts;
	float m = a[base];
	for (uint e = 1; e < p.experts; e++) {
		m = max(m, a[base + e]);
	}
	precise float sum = 0.0;
	for (uint e = 0; e < p.experts; e++) {
		float v = exp(a[base + e] - m);
		o[base + e] = v;
		sum += v;
	}
	for (uint e = 0; e < p.experts; e++) {
		o[base + e] /= sum;
	}
	// The chosen probabilities are marked by their sign bit (every
	// probability is >= 0, and -0 marks a chosen zero), the rest zeroed
	// after.
	precise float chosen = 0.0;
	for (uint k = 0; k < p.used; k++) {
		int best = -1;
		for (uint e = 0; e < p.experts; e++) {
			float v = o[base + e];
			if ((floatBitsToUint(v) & SIGN) == 0u && (best < 0 || v > o[base + uint(best)])) {
				best = int(e);
			}
		}
		float w = o[base + uint(best)];
		chosen += w;
		o[base + uint(best)] = uintBitsToFloat(floatBitsToUint(w) | SIGN);
	}
	for (uint e = 0; e < p.experts; e++) {
		float v = o[base + e];
		float w = (floatBitsToUint(v) & SIGN) != 0u ? abs(v) : 0.0;
		o[base + e] = p.renorm != 0u ? w / chosen : w;
	}
}

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i >= p.count) {
		return;
	}
	switch (p.op) {
	case 0u:
		route(i);
		break;
	case 1u: {
		float x = o[i];
		float y = x / (1.0 + exp(-x)) * a[i];
		o[i] = p.half_ != 0u ? round_f16(y) : y;
		break;
	}
	case 2u:
		o[i] = round_f16(a[i]);
		break;
	case 3u: {
		precise float term = b[(i / p.width) * p.experts + p.expert] * a[i];
		if (p.expert == 0u) {
			o[i] = term;
		} else {
			precise float s = o[i] + term;
			o[i] = s;
		}
		break;
	}
	}
}
