// Dot products of a weight row range with an input held as vec4s
// (binding X4, defined before including), reading weights in 16/32-bit
// words and the input four elements at a time: CPU Vulkan devices pay
// per load, GPUs like the wider loads too.

// block_dot returns sub-block sb (32 elements) of the row at byte roff
// dotted with x4[x4o .. x4o+7].
float block_dot(uint t, uint roff, uint sb, uint x4o) {
	switch (t) {
	case T_Q8_0: {
		uint b = roff + sb * 34;
		float s = 0.0;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			s += dot(bytes_s8(u32_at2(b + 2 + 4 * k)), x4[x4o + k]);
		}
		return f16_at(b) * s;
	}
	case T_Q4_0: {
		uint b = roff + sb * 18;
		float s = 0.0, sx = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			uint q = u32_at2(b + 2 + 4 * k);
			vec4 xl = x4[x4o + k], xh = x4[x4o + 4 + k];
			s += dot(nibbles(q, 0), xl) + dot(nibbles(q, 4), xh);
			sx += dot(xl + xh, vec4(1.0));
		}
		return f16_at(b) * (s - 8.0 * sx);
	}
	case T_Q5_0: {
		uint b = roff + sb * 22;
		uint qh = u32_at2(b + 2);
		float s = 0.0, sx = 0.0;
		[[unroll]] for (uint k = 0; k < 4; k++) {
			uint q = u32_at2(b + 6 + 4 * k);
			uint hl = qh >> (4 * k), hh = qh >> (16 + 4 * k);
			vec4 bl = vec4(hl & 1u, (hl >> 1) & 1u, (hl >> 2) & 1u, (hl >> 3) & 1u) * 16.0;
			vec4 bh = vec4(hh & 1u, (hh >> 1) & 1u, (hh >> 2) & 1u, (hh >> 3) & 1u) * 16.0;
			vec4 xl = x4[x4o + k], xh = x4[x4o + 4 + k];
			s += dot(nibbles(q, 0) + bl, xl) + dot(nibbles(q, 4) + bh, xh);
			sx += dot(xl + xh, vec4(1.0));
		}
		return f16_at(b) * (s - 16.0 * sx);
	}
	case T_Q4_K: {
		uint b = roff + (sb / 8) * 144, sub = sb % 8;
		vec2 sm = scale_min_k4(b + 4, sub);
		uint q0 = (b + 16 + (sub / 2) * 32) / 4, shift = (sub & 1u) * 4;
		float s = 0.0, sx = 0.0;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			vec4 xv = x4[x4o + k];
			s += dot(nibbles(wu[q0 + k], shift), xv);
			sx += dot(xv, vec4(1.0));
		}
		return f16_at(b) * sm.x * s - f16_at(b + 2) * sm.y * sx;
	}
	case T_Q6_K: {
		uint b = roff + (sb / 8) * 210, e0 = (sb % 8) * 32;
		uint half_ = e0 / 128, quad = (e0 % 128) / 32;
		uint ql0 = b + 64 * half_ + (quad & 1u) * 32, qlshift = quad >= 2 ? 4u : 0u;
		uint qh0 = b + 128 + 32 * half_, qhshift = 2 * quad;
		uint sc0 = b + 192 + 8 * half_ + 2 * quad;
		float s0 = 0.0, s1 = 0.0, sx0 = 0.0, sx1 = 0.0;
		[[unroll]] for (uint k = 0; k < 8; k++) {
			uint ql = u32_at2(ql0 + 4 * k), qh = u32_at2(qh0 + 4 * k);
			vec4 q = nibbles(ql, qlshift) + vec4((qh >> qhshift) & 3u, (qh >> (qhshift + 8)) & 3u, (qh >> (qhshift + 16)) & 3u, (qh >> (qhshift + 24)) & 3u) * 16.0;
			vec4 xv = x4[x4o + k];
			if (k < 4) {
				s0 += dot(q, xv);
				sx0 += dot(xv, vec4(1.0));
			} else {
				s1 += dot(q, xv);
				sx1 += dot(xv, vec4(1.0));
			}
		}
		float d = f16_at(b + 208);
		return d * (float(int8_t(w8[sc0])) * (s0 - 32.0 * sx0) + float(int8_t(w8[sc0 + 1])) * (s1 - 32.0 * sx1));
	}
	}
	float v[32];
	dequant32(t, roff, sb, v);
	float s = 0.0;
	[[unroll]] for (uint k = 0; k < 8; k++) {
		s += dot(vec4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]), x4[x4o + k]);
	}
	return s;
}

// quad_dot returns elements 4*i4 .. 4*i4+3 of an F32/F16/BF16 row at
// byte roff (a row of a multiple of 4 elements) dotted with x4[x4o + i4].
float quad_dot(uint t, uint roff, uint i4, uint x4o) {
	vec4 w;
	if (t == T_F32) {
		w = w4[roff / 16 + i4];
	} else {
		uvec2 h = w64[roff / 8 + i4];
		if (t == T_F16) {
			w = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
		} else {
			w = vec4(uintBitsToFloat(h.x << 16), uintBitsToFloat(h.x & 0xffff0000u), uintBitsToFloat(h.y << 16), uintBitsToFloat(h.y & 0xffff0000u));
		}
	}
	return dot(w, x4[x4o + i4]);
}
