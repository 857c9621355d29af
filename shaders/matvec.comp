#version 450
// y[b][row] (+)= W[row] . x[b] + bias[row] for a batch of n input rows.
// One workgroup per weight row; its invocations split the row's blocks,
// dequantizing each weight once for all inputs of the batch.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TYPE = 0;
layout(constant_id = 2) const uint SUBGROUPS = 1;

#define WEIGHTS 0
#include "weights.glsl"
#include "reduce.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer Y { float y[]; };
layout(std430, binding = 3) readonly buffer B { float bias[]; };

layout(push_constant) uniform P {
	uint cols;      // elements per row
	uint rows;      // rows in this weight range
	uint n;         // batch size
	uint x_stride;  // elements between inputs
	uint y_stride;  // elements between outputs
	uint y_off;     // element offset of output 0 row 0
	uint row0;      // output index of this range's first row
	uint w_off;     // byte offset of the range in the binding
	uint flags;     // 1: accumulate into y, 2: add bias
} p;

const uint MAXB = 8;

void main() {
	uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
	if (row >= p.rows) {
		return; // uniform across the workgroup
	}
	uint tid = gl_LocalInvocationID.x;
	uint roff = p.w_off + row * row_bytes(TYPE, p.cols);
	uint be = block_elems(TYPE) == 1u ? 1u : 32u; // elements per inner step
	uint steps = p.cols / be;
	for (uint b0 = 0; b0 < p.n; b0 += MAXB) {
		uint nb = min(MAXB, p.n - b0);
		float acc[MAXB];
		for (uint b = 0; b < MAXB; b++) {
			acc[b] = 0.0;
		}
		for (uint s = tid; s < steps; s += WG) {
			for (uint j = 0; j < be; j++) {
				uint i = s * be + j;
				float w = dequant(TYPE, roff, i);
				for (uint b = 0; b < nb; b++) {
					acc[b] += w * x[(b0 + b) * p.x_stride + i];
				}
			}
		}
		for (uint b = 0; b < nb; b++) {
			float sum = wg_sum(acc[b]);
			if (tid == 0) {
				uint o = p.y_off + (b0 + b) * p.y_stride + p.row0 + row;
				if ((p.flags & 2u) != 0u) {
					sum += bias[p.row0 + row];
				}
				y[o] = (p.flags & 1u) != 0u ? y[o] + sum : sum;
			}
		}
	}
}
