#version 450
// o = a + b, a * b, a * scale or gelu(a) * b, elementwise over count
// elements. b holds b_count elements and repeats over a (b_count = one
// row: the row is added to or multiplied into every row of a). o is a
// buffer of its own.

#extension GL_GOOGLE_include_directive : require

#include "round.glsl"
#include "gelu.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint count;
	uint b_count;
	uint op; // 0: add, 1: multiply, 2: scale (b is not read), 3: gelu(a) * b
	float scale;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i >= p.count) {
		return;
	}
	float x = a[i];
	if (p.op == 2u) {
		o[i] = x * p.scale;
		return;
	}
	if (p.op == 3u) {
		x = gelu_ggml(x);
	}
	float y = b[i % p.b_count];
	o[i] = p.op == 0u ? x + y : x * y;
}
