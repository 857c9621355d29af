#version 450
// out[r] = x[r] / rms(x[r]) * w, one workgroup per row. In place when
// out and x are the same buffer: each invocation rewrites only what it read.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint cols;
	uint rows;
	uint x_off;
	uint o_off;
	float eps;
} p;

void main() {
	uint row = gl_WorkGroupID.x;
	uint tid = gl_LocalInvocationID.x;
	uint xb = p.x_off + row * p.cols, ob = p.o_off + row * p.cols;
	float ss = 0.0;
	for (uint i = tid; i < p.cols; i += WG) {
		ss += x[xb + i] * x[xb + i];
	}
	ss = wg_sum(ss);
	float scale = inversesqrt(ss / float(p.cols) + p.eps);
	for (uint i = tid; i < p.cols; i += WG) {
		o[ob + i] = x[xb + i] * scale * w[i];
	}
}
