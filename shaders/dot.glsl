// Dot products of a weight row range with an input held as vec4s
// (binding X4, defined before including), in blocks.glsl's order: reading
// weights in 16/32-bit words and the input four elements at a time (CPU
// Vulkan devices pay per load, GPUs like the wider loads too).
#include "blocks.glsl"

// block_dot returns sub-block sb (32 elements) of the row at byte roff
// dotted with x4[x4o .. x4o+7].
float block_dot(uint t, uint roff, uint sb, uint x4o) {
	vec4 q[8], xv[8];
	vec4 sc;
	decode_block(t, roff, sb, q, sc);
	[[unroll]] for (uint k = 0; k < 8; k++) {
		xv[k] = x4[x4o + k];
	}
	return block_sum(t, q, sc, xv, input_sums(t, xv));
}

// quad_dot returns elements 4*i4 .. 4*i4+3 of an F32/F16/BF16 row at
// byte roff (a row of a multiple of 4 elements) dotted with x4[x4o + i4].
float quad_dot(uint t, uint roff, uint i4, uint x4o) {
	return dot(quad_weights(t, roff, i4), x4[x4o + i4]);
}
