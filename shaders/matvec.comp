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
//
// On CPU devices each invocation computes whole rows (flag 4), so all
// lanes want the same input values; a batch's lanes load one vec4 each
// and broadcast them (shared_block), as a CPU device's lanes load one
// after another. A single input's lanes take their rows four or two at a
// time, loading the input once for them (dot1_rows), and a batch's two
// (partial_pair).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TYPE = 0;

#define WEIGHTS 0
#include "weights.glsl"
#include "reduce.glsl"
#if USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_ballot : require
#endif

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
float acc2[MAXB];

// dot1 returns this invocation's share (lane of lanes) of row . x for a
// single input (a decode step) of a multiple of 4 elements: wide loads,
// no batch loop, no accumulator array.
float dot1(uint row, uint lane, uint lanes) {
	uint roff = row * row_bytes(TYPE, p.cols);
	float s = 0.0;
	if (block_elems(TYPE) == 1u) {
		for (uint i4 = lane; i4 < p.cols / 4; i4 += lanes) {
			s += quad_dot(TYPE, roff, i4, 0);
		}
	} else {
		for (uint sb = lane; sb < p.cols / 32; sb += lanes) {
			s += block_dot(TYPE, roff, sb, sb * 8);
		}
	}
	return s;
}

// dot1_rows returns rows row + r*step, r < count (2 or 4), of a block
// type dotted with a single input, each summed as dot1(row, 0, 1) sums
// it, loading each of the input's sub-blocks once for them all: on a CPU
// device, whose lanes load one after another, the input's loads cost as
// much as a row's weights.
vec4 dot1_rows(uint row, uint step, uint count) {
	uint rb = row_bytes(TYPE, p.cols);
	vec4 s = vec4(0.0);
	vec4 q[8], xv[8];
	vec4 sc;
	for (uint sb = 0; sb < p.cols / 32; sb++) {
		[[unroll]] for (uint k = 0; k < 8; k++) {
			xv[k] = x4[sb * 8 + k];
		}
		vec2 xs = input_sums(TYPE, xv);
		[[unroll]] for (uint r = 0; r < 4; r++) {
			if (r < count) {
				decode_block(TYPE, (row + r * step) * rb, sb, q, sc);
				s[r] += block_sum(TYPE, q, sc, xv, xs);
			}
		}
	}
	return s;
}

// xquad returns elements 4*i4 .. 4*i4+3 of input b.
vec4 xquad(uint b, uint i4) {
	if ((p.x_stride & 3u) == 0u) {
		return x4[b * (p.x_stride / 4) + i4];
	}
	uint o = b * p.x_stride + 4 * i4;
	return vec4(x[o], x[o + 1], x[o + 2], x[o + 3]);
}

#if USE_SUBGROUPS
// shared_block sets xv to sub-block sb of input b (a multiple of 4
// elements apart from the next): each lane loads one of its 8 vec4s and
// the subgroup hands them round. A CPU device's lanes load one after
// another, so 8 lanes loading one vec4 each replace 8 loads a lane. All
// lanes must be active, in a subgroup of at least 8.
void shared_block(uint b, uint sb, out vec4 xv[8]) {
	vec4 mine = x4[b * (p.x_stride / 4) + sb * 8 + (gl_SubgroupInvocationID & 7u)];
	xv[0] = subgroupBroadcast(mine, 0u);
	xv[1] = subgroupBroadcast(mine, 1u);
	xv[2] = subgroupBroadcast(mine, 2u);
	xv[3] = subgroupBroadcast(mine, 3u);
	xv[4] = subgroupBroadcast(mine, 4u);
	xv[5] = subgroupBroadcast(mine, 5u);
	xv[6] = subgroupBroadcast(mine, 6u);
	xv[7] = subgroupBroadcast(mine, 7u);
}

#endif

// input_block sets xv to sub-block sb of input b: shared across the
// subgroup (shared_block) with broadcast, else loaded by each lane.
void input_block(uint b, uint sb, bool broadcast, out vec4 xv[8]) {
#if USE_SUBGROUPS
	if (broadcast) {
		shared_block(b, sb, xv);
		return;
	}
#endif
	[[unroll]] for (uint k = 0; k < 8; k++) {
		xv[k] = xquad(b, sb * 8 + k);
	}
}

// partial sets acc to this invocation's share (lane of lanes) of
// row . x[b0 + b] for the batch's inputs b0 .. b0+MAXB-1, decoding each
// weight once for them all and summing each input exactly as dot1 and the
// matmul shader do (blocks.glsl), so the batch does not change a result.
// broadcast takes a block type's inputs through shared_block.
void partial(uint row, uint b0, uint lane, uint lanes, bool broadcast) {
	[[unroll]] for (uint b = 0; b < MAXB; b++) {
		acc[b] = 0.0;
	}
	uint roff = row * row_bytes(TYPE, p.cols);
	uint nb = min(MAXB, p.n - b0);
	if (block_elems(TYPE) == 1u) {
		if ((p.cols & 3u) == 0u) {
			for (uint i4 = lane; i4 < p.cols / 4; i4 += lanes) {
				vec4 w = quad_weights(TYPE, roff, i4);
				for (uint b = 0; b < nb; b++) {
					acc[b] += dot(w, xquad(b0 + b, i4));
				}
			}
			return;
		}
		for (uint i = lane; i < p.cols; i += lanes) {
			float w = dequant(TYPE, roff, i);
			for (uint b = 0; b < nb; b++) {
				acc[b] += w * x[(b0 + b) * p.x_stride + i];
			}
		}
		return;
	}
	vec4 q[8], xv[8];
	vec4 sc;
	for (uint sb = lane; sb < p.cols / 32; sb += lanes) {
		decode_block(TYPE, roff, sb, q, sc);
		for (uint b = 0; b < nb; b++) {
			input_block(b0 + b, sb, broadcast, xv);
			acc[b] += block_sum(TYPE, q, sc, xv, input_sums(TYPE, xv));
		}
	}
}

// partial_pair is partial(row, b0, 0, 1, true) over two rows at once,
// into acc for row and acc2 for row2, each summed as partial sums it:
// each input sub-block is handed round once for both rows.
void partial_pair(uint row, uint row2, uint b0) {
	[[unroll]] for (uint b = 0; b < MAXB; b++) {
		acc[b] = 0.0;
		acc2[b] = 0.0;
	}
	uint rb = row_bytes(TYPE, p.cols);
	uint nb = min(MAXB, p.n - b0);
	vec4 q[8], q2[8], xv[8];
	vec4 sc, sc2;
	for (uint sb = 0; sb < p.cols / 32; sb++) {
		decode_block(TYPE, row * rb, sb, q, sc);
		decode_block(TYPE, row2 * rb, sb, q2, sc2);
		for (uint b = 0; b < nb; b++) {
			input_block(b0 + b, sb, true, xv);
			vec2 xs = input_sums(TYPE, xv);
			acc[b] += block_sum(TYPE, q, sc, xv, xs);
			acc2[b] += block_sum(TYPE, q2, sc2, xv, xs);
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
	bool one = p.n == 1u && (p.cols & 3u) == 0u; // uniform
	if ((p.flags & 4u) != 0u) {
		// Short rows: each invocation computes whole rows, no reduction.
		uint first = wg * p.wg_rows, last = min(first + p.wg_rows, p.rows);
#if USE_SUBGROUPS
		if (block_elems(TYPE) != 1u && gl_SubgroupSize >= 8u && WG % gl_SubgroupSize == 0u && (p.x_stride & 3u) == 0u && !one) {
			for (uint base = first; base < last; base += WG) {
				uint row = base + gl_LocalInvocationID.x;
				if (base + WG < last) { // uniform: a second row a lane (clamped, as all lanes must broadcast)
					uint row2 = row + WG;
					for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
						partial_pair(row, min(row2, last - 1u), b0);
						[[unroll]] for (uint b = 0; b < MAXB; b++) {
							if (b0 + b < p.n) {
								store(row, b0 + b, acc[b]);
								if (row2 < last) {
									store(row2, b0 + b, acc2[b]);
								}
							}
						}
					}
					base += WG;
					continue;
				}
				for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
					partial(min(row, last - 1u), b0, 0, 1, true);
					[[unroll]] for (uint b = 0; b < MAXB; b++) {
						if (row < last && b0 + b < p.n) {
							store(row, b0 + b, acc[b]);
						}
					}
				}
			}
			return;
		}
#endif
		for (uint row = first + gl_LocalInvocationID.x; row < last; row += WG) {
			// A decode step takes its rows four or two at a time where
			// the workgroup has them (MatVec.Record sizes wg_rows).
			uint count = row + 3 * WG < last ? 4 : row + WG < last ? 2 : 1;
			if (one && block_elems(TYPE) != 1u && count > 1) {
				vec4 s = dot1_rows(row, WG, count);
				for (uint r = 0; r < count; r++) {
					store(row + r * WG, 0, s[r]);
				}
				row += (count - 1) * WG;
				continue;
			}
			if (one) {
				store(row, 0, dot1(row, 0, 1));
				continue;
			}
			for (uint b0 = gl_WorkGroupID.z * MAXB; b0 < p.n; b0 += MAXB * gl_NumWorkGroups.z) {
				partial(row, b0, 0, 1, false);
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
			partial(row, b0, gl_SubgroupInvocationID, gl_SubgroupSize, false);
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
		partial(wg, b0, gl_LocalInvocationID.x, WG, false);
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
