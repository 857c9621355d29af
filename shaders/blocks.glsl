// The one way every product shader (matvec, matmul) sums a 32-element
// sub-block of a weight row against an input, so that an output does not
// depend on which shader computed it or on how many inputs shared the
// dispatch: batch invariance, bit for bit. A sub-block is decoded
// (decode_block) into 8 vec4s of small exact values plus up to four
// scales, and summed (block_sum) with the input's 8 vec4s and their sums
// (input_sums, which depend on the input alone and so can be computed once
// per input and block). Types without a factored form decode to their
// dequantized values and sum plainly. Include after weights.glsl.

// decode_block sets q and sc to sub-block sb of the row at byte roff.
void decode_block(uint t, uint roff, uint sb, out vec4 q[8], out vec4 sc) {
	sc = vec4(0.0);
	switch (t) {
	case T_Q8_0: {
		uint w[8];
		sc.x = unpackHalf2x16(scaled_block(roff + sb * 34, 8, w)).x;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			q[k] = bytes_s8(w[k]);
		}
		return;
	}
	case T_Q4_0: {
		uint w[8];
		sc.x = unpackHalf2x16(scaled_block(roff + sb * 18, 4, w)).x;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			q[k] = nibbles(w[k], 0);
			q[4 + k] = nibbles(w[k], 4);
		}
		return;
	}
	case T_Q5_0: {
		uint b = roff + sb * 22;
		uint qh = u32_at2(b + 2);
		[[unroll]] for (uint k = 0; k < 4; k++) {
			uint w = u32_at2(b + 6 + 4 * k);
			uint hl = qh >> (4 * k), hh = qh >> (16 + 4 * k);
			q[k] = nibbles(w, 0) + vec4(hl & 1u, (hl >> 1) & 1u, (hl >> 2) & 1u, (hl >> 3) & 1u) * 16.0;
			q[4 + k] = nibbles(w, 4) + vec4(hh & 1u, (hh >> 1) & 1u, (hh >> 2) & 1u, (hh >> 3) & 1u) * 16.0;
		}
		sc.x = f16_at(b);
		return;
	}
	case T_Q4_K: {
		uint b = roff + (sb / 8) * 144, sub = sb % 8;
		vec2 sm = scale_min_k4(b + 4, sub);
		uint q0 = (b + 16 + (sub / 2) * 32) / 4, shift = (sub & 1u) * 4;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			q[k] = nibbles(wu[q0 + k], shift);
		}
		sc.xy = vec2(f16_at(b) * sm.x, f16_at(b + 2) * sm.y);
		return;
	}
	case T_Q6_K: {
		uint b = roff + (sb / 8) * 210, e0 = (sb % 8) * 32;
		uint half_ = e0 / 128, quad = (e0 % 128) / 32;
		uint ql0 = b + 64 * half_ + (quad & 1u) * 32, qlshift = quad >= 2 ? 4u : 0u;
		uint qh0 = b + 128 + 32 * half_, qhshift = 2 * quad;
		uint sc0 = b + 192 + 8 * half_ + 2 * quad;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			uint ql = u32_at2(ql0 + 4 * k), qh = u32_at2(qh0 + 4 * k);
			q[k] = nibbles(ql, qlshift) + vec4((qh >> qhshift) & 3u, (qh >> (qhshift + 8)) & 3u, (qh >> (qhshift + 16)) & 3u, (qh >> (qhshift + 24)) & 3u) * 16.0;
		}
		sc.xyz = vec3(f16_at(b + 208), float(int8_t(w8[sc0])), float(int8_t(w8[sc0 + 1])));
		return;
	}
	}
	float v[32];
	dequant32(t, roff, sb, v);
	[[unroll]] for (uint k = 0; k < 8; k++) {
		q[k] = vec4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
	}
}

// input_sums returns the sums of a sub-block's input x that the factored
// types subtract their offset or minimum with: Q4_0 and Q5_0 add the two
// halves first, Q6_K keeps its two 16-element halves apart.
vec2 input_sums(uint t, vec4 x[8]) {
	float s0 = 0.0, s1 = 0.0;
	switch (t) {
	case T_Q4_0:
	case T_Q5_0:
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s0 += dot(x[k] + x[4 + k], vec4(1.0));
		}
		break;
	case T_Q4_K:
		[[unroll]] for (uint k = 0; k < 8; k++) {
			s0 += dot(x[k], vec4(1.0));
		}
		break;
	case T_Q6_K:
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s0 += dot(x[k], vec4(1.0));
			s1 += dot(x[4 + k], vec4(1.0));
		}
		break;
	}
	return vec2(s0, s1);
}

// block_sum returns the decoded sub-block (q, sc) dotted with input x,
// whose input_sums are xs.
float block_sum(uint t, vec4 q[8], vec4 sc, vec4 x[8], vec2 xs) {
	switch (t) {
	case T_Q4_0:
	case T_Q5_0: {
		float s = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s += dot(q[k], x[k]) + dot(q[4 + k], x[4 + k]);
		}
		return sc.x * (s - (t == T_Q4_0 ? 8.0 : 16.0) * xs.x);
	}
	case T_Q4_K: {
		float s = 0.0;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			s += dot(q[k], x[k]);
		}
		return sc.x * s - sc.y * xs.x;
	}
	case T_Q6_K: {
		float s0 = 0.0, s1 = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s0 += dot(q[k], x[k]);
			s1 += dot(q[4 + k], x[4 + k]);
		}
		return sc.x * (sc.y * (s0 - 32.0 * xs.x) + sc.z * (s1 - 32.0 * xs.y));
	}
	}
	float s = 0.0;
	[[unroll]] for (uint k = 0; k < 8; k++) {
		s += dot(q[k], x[k]);
	}
	return t == T_Q8_0 ? sc.x * s : s;
}

// quad_weights returns elements 4*i4 .. 4*i4+3 of an F32/F16/BF16 row at
// byte roff (a row of a multiple of 4 elements): the unit those types
// are summed in, one dot product at a time.
vec4 quad_weights(uint t, uint roff, uint i4) {
	if (t == T_F32) {
		return w4[roff / 16 + i4];
	}
	uvec2 h = w64[roff / 8 + i4];
	if (t == T_F16) {
		return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
	}
	return vec4(uintBitsToFloat(h.x << 16), uintBitsToFloat(h.x & 0xffff0000u), uintBitsToFloat(h.y << 16), uintBitsToFloat(h.y & 0xffff0000u));
}
