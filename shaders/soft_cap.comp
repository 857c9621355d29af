#version 450
// o = tanh(a·(1/cap))·cap elementwise over count elements: Gemma 2's
// final logit soft-cap, as ggml's scale, tanh and scale compute it. o may
// be a's buffer.

#extension GL_GOOGLE_include_directive : require

#include "tanh.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint count;
	float cap;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i < p.count) {
		o[i] = tanh_finite(a[i] * (1.0 / p.cap)) * p.cap;
	}
}
