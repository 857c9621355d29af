#version 450
// out[b] = W[ids[b]] dequantized, for the ids that fall in this weight
// range (rows row0 .. row0+rows-1; large tables are bound in ranges).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint TYPE = 0;

#define WEIGHTS 0
#include "weights.glsl"

layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint cols;
	uint n;
	uint row0;
	uint rows;
	uint o_stride;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x, b = gl_GlobalInvocationID.y;
	if (i >= p.cols || b >= p.n) {
		return;
	}
	uint id = uint(ids[b]);
	if (id < p.row0 || id - p.row0 >= p.rows) {
		return;
	}
	o[b * p.o_stride + i] = dequant(TYPE, (id - p.row0) * row_bytes(TYPE, p.cols), i);
}
