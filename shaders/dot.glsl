// Dot products of weight rows with inputs, reading weights in 16/32-bit
// words and inputs four elements at a time: CPU Vulkan devices pay per
// load, GPUs like the wider loads too.
//
// A block type's sub-block of 32 weights is decoded once (decode32: its
// raw quants as eight vec4s and its scales) and dotted with each input
// by combine32, which works on the raw quants (sums of the input for the
// offsets) as the integer products do. A single input and a batch of
// them take these same two steps, so an input's sum has the same bits
// whatever the batch (batch invariance) while a batch decodes each
// weight once.

// Blk is one decoded sub-block: q[k] multiplies input elements
// 4k .. 4k+3; d, a and b are the type's scales (see combine32).
struct Blk {
	vec4 q[8];
	float d, a, b;
};

// decode32 decodes sub-block sb (elements 32*sb .. 32*sb+31) of the row
// at byte roff.
Blk decode32(uint t, uint roff, uint sb) {
	Blk w;
	w.d = 1.0;
	w.a = 0.0;
	w.b = 0.0;
	switch (t) {
	case T_Q8_0: {
		uint b = roff + sb * 34;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			w.q[k] = bytes_s8(u32_at2(b + 2 + 4 * k));
		}
		w.d = f16_at(b);
		return w;
	}
	case T_Q4_0: {
		uint b = roff + sb * 18;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			uint q = u32_at2(b + 2 + 4 * k);
			w.q[k] = nibbles(q, 0);
			w.q[4 + k] = nibbles(q, 4);
		}
		w.d = f16_at(b);
		return w;
	}
	case T_Q5_0: {
		uint b = roff + sb * 22;
		uint qh = u32_at2(b + 2);
		[[unroll]] for (uint k = 0; k < 4; k++) {
			uint q = u32_at2(b + 6 + 4 * k);
			uint hl = qh >> (4 * k), hh = qh >> (16 + 4 * k);
			w.q[k] = nibbles(q, 0) + vec4(hl & 1u, (hl >> 1) & 1u, (hl >> 2) & 1u, (hl >> 3) & 1u) * 16.0;
			w.q[4 + k] = nibbles(q, 4) + vec4(hh & 1u, (hh >> 1) & 1u, (hh >> 2) & 1u, (hh >> 3) & 1u) * 16.0;
		}
		w.d = f16_at(b);
		return w;
	}
	case T_Q4_K: {
		uint b = roff + (sb / 8) * 144, sub = sb % 8;
		vec2 sm = scale_min_k4(b + 4, sub);
		uint q0 = (b + 16 + (sub / 2) * 32) / 4, shift = (sub & 1u) * 4;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			w.q[k] = nibbles(wu[q0 + k], shift);
		}
		w.a = f16_at(b) * sm.x;
		w.b = f16_at(b + 2) * sm.y;
		return w;
	}
	case T_Q6_K: {
		uint b = roff + (sb / 8) * 210, e0 = (sb % 8) * 32;
		uint half_ = e0 / 128, quad_ = (e0 % 128) / 32;
		uint ql0 = b + 64 * half_ + (quad_ & 1u) * 32, qlshift = quad_ >= 2 ? 4u : 0u;
		uint qh0 = b + 128 + 32 * half_, qhshift = 2 * quad_;
		uint sc0 = b + 192 + 8 * half_ + 2 * quad_;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			uint ql = u32_at2(ql0 + 4 * k), qh = u32_at2(qh0 + 4 * k);
			w.q[k] = nibbles(ql, qlshift) + vec4((qh >> qhshift) & 3u, (qh >> (qhshift + 8)) & 3u, (qh >> (qhshift + 16)) & 3u, (qh >> (qhshift + 24)) & 3u) * 16.0;
		}
		w.d = f16_at(b + 208);
		w.a = float(int8_t(w8[sc0]));
		w.b = float(int8_t(w8[sc0 + 1]));
		return w;
	}
	}
	// The other block types: the weights themselves.
	float v[32];
	dequant32(t, roff, sb, v);
	[[unroll]] for (uint k = 0; k < 8; k++) {
		w.q[k] = vec4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
	}
	return w;
}

// combine32 returns decoded sub-block w dotted with the 32 inputs x.
float combine32(uint t, Blk w, vec4 x[8]) {
	switch (t) {
	case T_Q4_0:
	case T_Q5_0: {
		float s = 0.0, sx = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s += dot(w.q[k], x[k]) + dot(w.q[4 + k], x[4 + k]);
			sx += dot(x[k] + x[4 + k], vec4(1.0));
		}
		return w.d * (s - (t == T_Q4_0 ? 8.0 : 16.0) * sx);
	}
	case T_Q4_K: {
		float s = 0.0, sx = 0.0;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			s += dot(w.q[k], x[k]);
			sx += dot(x[k], vec4(1.0));
		}
		return w.a * s - w.b * sx;
	}
	case T_Q6_K: {
		float s0 = 0.0, s1 = 0.0, sx0 = 0.0, sx1 = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			s0 += dot(w.q[k], x[k]);
			sx0 += dot(x[k], vec4(1.0));
			s1 += dot(w.q[4 + k], x[4 + k]);
			sx1 += dot(x[4 + k], vec4(1.0));
		}
		return w.d * (w.a * (s0 - 32.0 * sx0) + w.b * (s1 - 32.0 * sx1));
	}
	}
	// Q8_0 (scale d) and the weights themselves (d = 1).
	float s = 0.0;
	[[unroll]] for (uint k = 0; k < 8; k++) {
		s += dot(w.q[k], x[k]);
	}
	return w.d * s;
}

// quad returns elements 4*i4 .. 4*i4+3 of an F32/F16/BF16 row at byte
// roff (a row of a multiple of 4 elements).
vec4 quad(uint t, uint roff, uint i4) {
	if (t == T_F32) {
		return w4[roff / 16 + i4];
	}
	uvec2 h = w64[roff / 8 + i4];
	if (t == T_F16) {
		return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
	}
	return vec4(uintBitsToFloat(h.x << 16), uintBitsToFloat(h.x & 0xffff0000u), uintBitsToFloat(h.y << 16), uintBitsToFloat(h.y & 0xffff0000u));
}
