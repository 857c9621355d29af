#version 450
// y[b][row] (+)= W[row] . x[b] (+ bias[row]) for a batch of inputs, as a
// tiled matrix product: a workgroup computes a tile of BM rows by BN
// inputs, walking the rows' length KB sub-blocks of 32 at a time. Each
// step decodes the tile's weights once into shared memory (blocks.glsl's
// decoded form, which for most types is the dequantized values) together
// with the inputs' tile, and each invocation then sums TM rows by TN
// inputs out of shared memory.
//
// Every output is one invocation's sum over its row's sub-blocks in order,
// each sub-block summed by block_sum: the order matvec keeps with one
// invocation per row (its short-row path, which CPU devices take for every
// product). A token's output is thus bit-identical whether its batch ran
// here or through matvec, decode's single input included. The executor
// uses this shader only where matvec sums in that order.
//
// The tile sizes are specialization constants, chosen per device from its
// shared memory and subgroup size (vk/ops). No subgroup operations: one
// SPIR-V serves devices with and without them.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64; // (BM/TM) * (BN/TN)
layout(constant_id = 1) const uint TYPE = 0;
layout(constant_id = 2) const uint BM = 32;
layout(constant_id = 3) const uint BN = 32;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint KB = 2;

#define WEIGHTS 0
#include "weights.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
#include "blocks.glsl"
layout(std430, binding = 2) buffer Y { float y[]; };
layout(std430, binding = 3) readonly buffer B { float bias[]; };

layout(push_constant) uniform P {
	uint cols;      // elements per row, a multiple of 32
	uint rows;      // rows in this weight range
	uint n;         // batch size
	uint x_stride;  // elements between inputs
	uint y_stride;  // elements between outputs
	uint y_off;     // element offset of output 0 row 0
	uint row0;      // output index of this range's first row
	uint flags;     // 1: accumulate into y, 2: add bias
} p;

const uint RT = BM / TM; // invocations across a tile's rows
const uint CT = BN / TN; // invocations across its inputs

// The tile: vec4 k of sub-block kb of tile row r at wt[(kb*8 + k)*BM + r]
// (consecutive invocations read consecutive rows), its scales at
// ws[kb*BM + r]; the inputs likewise, with their input_sums.
shared vec4 wt[KB * 8 * BM];
shared vec4 ws[KB * BM];
shared vec4 xt[KB * 8 * BN];
shared vec2 xs[KB * BN];

// xquad returns elements 4*i4 .. 4*i4+3 of input b.
vec4 xquad(uint b, uint i4) {
	if ((p.x_stride & 3u) == 0u) {
		return x4[b * (p.x_stride / 4) + i4];
	}
	uint o = b * p.x_stride + 4 * i4;
	return vec4(x[o], x[o + 1], x[o + 2], x[o + 3]);
}

// load fills the tile with sub-blocks kt .. kt+KB-1 of rows r0.. and
// inputs c0..; what lies past the matrix or the batch is zero.
void load(uint r0, uint c0, uint kt, uint blocks) {
	uint rb = row_bytes(TYPE, p.cols);
	for (uint j = gl_LocalInvocationID.x; j < KB * BM; j += WG) {
		uint r = j % BM, kb = j / BM, row = r0 + r, sb = kt + kb;
		vec4 q[8];
		vec4 sc = vec4(0.0);
		if (row < p.rows && sb < blocks) {
			if (block_elems(TYPE) == 1u) {
				[[unroll]] for (uint k = 0; k < 8; k++) {
					q[k] = quad_weights(TYPE, row * rb, sb * 8 + k);
				}
			} else {
				decode_block(TYPE, row * rb, sb, q, sc);
			}
		} else {
			[[unroll]] for (uint k = 0; k < 8; k++) {
				q[k] = vec4(0.0);
			}
		}
		[[unroll]] for (uint k = 0; k < 8; k++) {
			wt[(kb * 8 + k) * BM + r] = q[k];
		}
		ws[kb * BM + r] = sc;
	}
	for (uint j = gl_LocalInvocationID.x; j < KB * BN; j += WG) {
		uint c = j % BN, kb = j / BN, col = c0 + c, sb = kt + kb;
		vec4 xv[8];
		bool inside = col < p.n && sb < blocks;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			xv[k] = inside ? xquad(col, sb * 8 + k) : vec4(0.0);
			xt[(kb * 8 + k) * BN + c] = xv[k];
		}
		xs[kb * BN + c] = input_sums(TYPE, xv);
	}
}

void main() {
	uint r0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * BM;
	if (r0 >= p.rows) {
		return; // uniform across the workgroup
	}
	uint c0 = gl_WorkGroupID.z * BN;
	uint tr = gl_LocalInvocationID.x % RT, tc = gl_LocalInvocationID.x / RT;
	uint blocks = p.cols / 32;
	float acc[TM * TN];
	[[unroll]] for (uint i = 0; i < TM * TN; i++) {
		acc[i] = 0.0;
	}
	for (uint kt = 0; kt < blocks; kt += KB) {
		barrier(); // the previous step's reads are done
		load(r0, c0, kt, blocks);
		barrier();
		uint kn = min(KB, blocks - kt);
		for (uint kb = 0; kb < kn; kb++) {
			[[unroll]] for (uint i = 0; i < TM; i++) {
				uint r = tr + i * RT;
				vec4 q[8];
				[[unroll]] for (uint k = 0; k < 8; k++) {
					q[k] = wt[(kb * 8 + k) * BM + r];
				}
				vec4 sc = ws[kb * BM + r];
				[[unroll]] for (uint j = 0; j < TN; j++) {
					uint c = tc + j * CT;
					vec4 xv[8];
					[[unroll]] for (uint k = 0; k < 8; k++) {
						xv[k] = xt[(kb * 8 + k) * BN + c];
					}
					if (block_elems(TYPE) == 1u) {
						// F32/F16/BF16 sum a quad at a time, as matvec does.
						[[unroll]] for (uint k = 0; k < 8; k++) {
							acc[i * TN + j] += dot(q[k], xv[k]);
						}
					} else {
						acc[i * TN + j] += block_sum(TYPE, q, sc, xv, xs[kb * BN + c]);
					}
				}
			}
		}
	}
	[[unroll]] for (uint i = 0; i < TM; i++) {
		uint row = r0 + tr + i * RT;
		[[unroll]] for (uint j = 0; j < TN; j++) {
			uint col = c0 + tc + j * CT;
			if (row < p.rows && col < p.n) {
				float sum = acc[i * TN + j];
				uint o = p.y_off + col * p.y_stride + p.row0 + row;
				if ((p.flags & 2u) != 0u) {
					sum += bias[p.row0 + row];
				}
				y[o] = (p.flags & 1u) != 0u ? y[o] + sum : sum;
			}
		}
	}
}
