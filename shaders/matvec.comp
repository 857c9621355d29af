#version 450
// y[b][row] (+)= W[row] . x[b] (+ bias[row]) for a batch of n inputs,
// dequantizing each weight once for up to MAXB inputs. Each z slice of the
// dispatch takes MAXB inputs of the batch, so a prompt's rows spread over
// more workgroups (a CPU device runs one workgroup per core at a time).
//
// With subgroups, each subgroup computes whole rows and reduces with
// subgroupAdd, so no barrier is needed (barriers are what CPU Vulkan
// devices pay most for); a workgroup takes wg_rows consecutive rows, as
// many as keeps a workgroup's share of work worth its fixed cost. Without
// (the matvec_nosg build, see reduce.glsl), one workgroup computes one row
// and reduces in shared memory.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TYPE = 0;

#define WEIGHTS 0
#include "weights.glsl"
#include "reduce.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
#include "dot.glsl"
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
	uint flags;     // 1: accumulate into y, 2: add bias, 4: one invocation per row
	uint wg_rows;   // rows per workgroup with subgroups
} p;

const uint MAXB = 16;
float acc[MAXB];

// inputs32 returns input b's elements 32*sb .. 32*sb+31 as vec4s.
void inputs32(uint sb, uint b, out vec4 xs[8]) {
	if ((p.x_stride & 3u) == 0u) {
		uint xb4 = b * (p.x_stride / 4) + sb * 8;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			xs[k] = x4[xb4 + k];
		}
	} else {
		uint xb = b * p.x_stride + sb * 32;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			xs[k] = vec4(x[xb + 4 * k], x[xb + 4 * k + 1], x[xb + 4 * k + 2], x[xb + 4 * k + 3]);
		}
	}
}

// dot1 returns this invocation's share (lane of lanes) of row . x[0] for
// a single input (a decode step): partial's operations in partial's
// order for one input, without its batch loop and accumulator array.
// Batch invariance rests on the two computing the same bits.
float dot1(uint row, uint lane, uint lanes) {
	uint roff = row * row_bytes(TYPE, p.cols);
	float s = 0.0;
	if (block_elems(TYPE) == 1u && (p.x_stride & 3u) == 0u && (p.cols & 3u) == 0u) {
		for (uint i4 = lane; i4 < p.cols / 4; i4 += lanes) {
			s += dot(quad(TYPE, roff, i4), x4[i4]);
		}
		return s;
	}
	if (block_elems(TYPE) == 1u) {
		for (uint i = lane; i < p.cols; i += lanes) {
			s += dequant(TYPE, roff, i) * x[i];
		}
		return s;
	}
	vec4 xs[8];
	for (uint sb = lane; sb < p.cols / 32; sb += lanes) {
		inputs32(sb, 0, xs);
		s += combine32(TYPE, decode32(TYPE, roff, sb), xs);
	}
	return s;
}

// partial sets acc to this invocation's share (lane of lanes) of
// row . x[b0 + b] for the batch's inputs b0 .. b0+MAXB-1. An input's sum
// takes the same operations in the same order whatever the batch size
// and its place in the batch (dot1 for a single input included: batch
// invariance), so a sequence's logits do not depend on what else a step
// holds.
void partial(uint row, uint b0, uint lane, uint lanes) {
	[[unroll]] for (uint b = 0; b < MAXB; b++) {
		acc[b] = 0.0;
	}
	uint roff = row * row_bytes(TYPE, p.cols);
	uint nb = min(MAXB, p.n - b0);
	bool wide = (p.x_stride & 3u) == 0u;
	if (block_elems(TYPE) == 1u && wide && (p.cols & 3u) == 0u) {
		// Four weights and four inputs a load.
		for (uint i4 = lane; i4 < p.cols / 4; i4 += lanes) {
			vec4 w = quad(TYPE, roff, i4);
			for (uint b = 0; b < nb; b++) {
				acc[b] += dot(w, x4[(b0 + b) * (p.x_stride / 4) + i4]);
			}
		}
		return;
	}
	if (block_elems(TYPE) == 1u) {
		for (uint i = lane; i < p.cols; i += lanes) {
			float w = dequant(TYPE, roff, i);
			for (uint b = 0; b < nb; b++) {
				acc[b] += w * x[(b0 + b) * p.x_stride + i];
			}
		}
		return;
	}
	vec4 xs[8];
	for (uint sb = lane; sb < p.cols / 32; sb += lanes) {
		Blk w = decode32(TYPE, roff, sb);
		for (uint b = 0; b < nb; b++) {
			inputs32(sb, b0 + b, xs);
			acc[b] += combine32(TYPE, w, xs);
		}
	}
}

void store(uint row, uint b, float sum) {
	uint o = p.y_off + b * p.y_stride + p.row0 + row;
	if ((p.flags & 2u) != 0u) {
		sum += bias[p.row0 + row];
	}
	y[o] = (p.flags & 1u) != 0u ? y[o] + sum : sum;
}

void main() {
	uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
	bool one = p.n == 1u; // uniform
	if ((p.flags & 4u) != 0u) {
		// Short rows: each invocation computes whole rows, no reduction.
		uint first = wg * p.wg_rows, last = min(first + p.wg_rows, p.rows);
		for (uint row = first + gl_LocalInvocationID.x; row < last; row += WG) {
			if (one) {
				store(row, 0, dot1(row, 0, 1));
				continue;
			}
			for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
				partial(row, b0, 0, 1);
				[[unroll]] for (uint b = 0; b < MAXB; b++) {
					if (b0 + b < p.n) {
						store(row, b0 + b, acc[b]);
					}
				}
			}
		}
		return;
	}
#if USE_SUBGROUPS
	uint first = wg * p.wg_rows, last = min(first + p.wg_rows, p.rows);
	for (uint row = first + gl_SubgroupID; row < last; row += gl_NumSubgroups) {
		if (one) {
			float sum = subgroupAdd(dot1(row, gl_SubgroupInvocationID, gl_SubgroupSize));
			if (subgroupElect()) {
				store(row, 0, sum);
			}
			continue;
		}
		for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
			partial(row, b0, gl_SubgroupInvocationID, gl_SubgroupSize);
			[[unroll]] for (uint b = 0; b < MAXB; b++) {
				if (b0 + b < p.n) { // uniform: n is a push constant
					float sum = subgroupAdd(acc[b]);
					if (subgroupElect()) {
						store(row, b0 + b, sum);
					}
				}
			}
		}
	}
#else
	if (wg >= p.rows) {
		return; // uniform across the workgroup
	}
	if (one) {
		float sum = wg_sum(dot1(wg, gl_LocalInvocationID.x, WG));
		if (gl_LocalInvocationID.x == 0) {
			store(wg, 0, sum);
		}
		return;
	}
	for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
		partial(wg, b0, gl_LocalInvocationID.x, WG);
		[[unroll]] for (uint b = 0; b < MAXB; b++) {
			if (b0 + b < p.n) { // uniform
				float sum = wg_sum(acc[b]);
				if (gl_LocalInvocationID.x == 0) {
					store(wg, b0 + b, sum);
				}
			}
		}
	}
#endif
}
