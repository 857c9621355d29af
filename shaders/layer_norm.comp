#version 450
// out[r] = (x[r] - mean) / sqrt(var + eps) * w + b, one workgroup per row,
// in place when out is x (each invocation rewrites only what it read).
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer Bs { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint cols;
	uint rows;
	float eps;
} p;

void main() {
	uint base = gl_WorkGroupID.x * p.cols;
	uint tid = gl_LocalInvocationID.x;
	float s = 0.0;
	for (uint i = tid; i < p.cols; i += WG) {
		s += x[base + i];
	}
	float mean = wg_sum(s) / float(p.cols);
	float sq = 0.0;
	for (uint i = tid; i < p.cols; i += WG) {
		float d = x[base + i] - mean;
		sq += d * d;
	}
	float inv = inversesqrt(wg_sum(sq) / float(p.cols) + p.eps);
	for (uint i = tid; i < p.cols; i += WG) {
		o[base + i] = (x[base + i] - mean) * inv * w[i] + bias[i];
	}
}
