// Raw weight access through binding WEIGHTS (define it before including):
// the same buffer seen as bytes, 16-bit words and 32-bit words.

layout(std430, binding = WEIGHTS) readonly buffer W8 { uint8_t w8[]; };
layout(std430, binding = WEIGHTS) readonly buffer W16 { uint16_t w16[]; };
layout(std430, binding = WEIGHTS) readonly buffer W32 { float w32[]; };
layout(std430, binding = WEIGHTS) readonly buffer WU { uint wu[]; };
layout(std430, binding = WEIGHTS) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = WEIGHTS) readonly buffer W64 { uvec2 w64[]; };

// u32_at2 reads 4 bytes at an even byte offset as two 16-bit loads.
uint u32_at2(uint byte_off) {
	return uint(w16[byte_off / 2]) | (uint(w16[byte_off / 2 + 1]) << 16);
}

// scaled_block reads a block of n (4 or 8) quant words after an f16
// scale at even byte b as n+1 aligned 32-bit loads, where reading it in
// 16-bit halves takes 2n+1 (CPU devices pay per load): q[k] is the four
// bytes at b+2+4k, and the result the scale's bits. With b a multiple of
// 4 the last load reads 2 bytes past the block, within the buffer (its
// size is a multiple of 16).
uint scaled_block(uint b, uint n, out uint q[8]) {
	uint w0 = b / 4, lo = wu[w0];
	bool mid = (b & 2u) != 0u; // the scale in the high half of lo
	[[unroll]] for (uint k = 0; k < 8; k++) {
		if (k < n) {
			uint hi = wu[w0 + k + 1];
			q[k] = mid ? hi : (lo >> 16) | (hi << 16);
			lo = hi;
		}
	}
	return mid ? wu[w0] >> 16 : wu[w0] & 0xffffu;
}

vec4 nibbles(uint q, uint shift) {
	return vec4((q >> shift) & 0xFu, (q >> (shift + 8)) & 0xFu, (q >> (shift + 16)) & 0xFu, (q >> (shift + 24)) & 0xFu);
}

vec4 bytes_s8(uint q) {
	return vec4(int(q << 24) >> 24, int(q << 16) >> 24, int(q << 8) >> 24, int(q) >> 24);
}

float f16_at(uint byte_off) {
	return unpackHalf2x16(uint(w8[byte_off]) | (uint(w8[byte_off + 1]) << 8)).x;
}

uint u32_at(uint byte_off) {
	return uint(w8[byte_off]) | (uint(w8[byte_off + 1]) << 8) | (uint(w8[byte_off + 2]) << 16) | (uint(w8[byte_off + 3]) << 24);
}

#include "iq4.glsl"

// Scale and minimum j (0..7) of a Q4_K/Q5_K block whose 12 packed
// 6-bit scale bytes start at q.
vec2 scale_min_k4(uint q, uint j) {
	uint sc, m;
	if (j < 4) {
		sc = uint(w8[q + j]) & 63u;
		m = uint(w8[q + j + 4]) & 63u;
	} else {
		sc = (uint(w8[q + j + 4]) & 0xFu) | ((uint(w8[q + j - 4]) >> 6) << 4);
		m = (uint(w8[q + j + 4]) >> 4) | ((uint(w8[q + j]) >> 6) << 4);
	}
	return vec2(float(sc), float(m));
}

// Q2_K and Q3_K (quant/kquants23.go): 16 sub-blocks of 16 in a block of
// 256; element e is bits 2*((e/32)%4) of low-bit byte (e/128)*32 + e%32,
// with scale (and Q2_K's min) e/16. q23k_low is that 2-bit value at block
// byte b of the low bits qs.
uint q23k_low(uint qs, uint e) {
	return (uint(w8[qs + (e / 128) * 32 + e % 32]) >> (2 * ((e / 32) % 4))) & 3u;
}

// q2k_scale_min is Q2_K sub-block s's scale and min, from scales at q.
vec2 q2k_scale_min(uint q, uint s) {
	uint v = uint(w8[q + s]);
	return vec2(float(v & 0xFu), float(v >> 4));
}

// q3k_scale is Q3_K sub-block s's 6-bit scale less 32, from the 12 packed
// bytes at q: low nibble from byte s%8 (high nibble for s >= 8), top two
// bits from byte 8 + s%4 at bit 2*(s/4).
float q3k_scale(uint q, uint s) {
	uint lo = (uint(w8[q + s % 8]) >> (4 * (s / 8))) & 0xFu;
	uint hi = (uint(w8[q + 8 + s % 4]) >> (2 * (s / 4))) & 3u;
	return float(int(lo | (hi << 4)) - 32);
}

// q3k_q is Q3_K element e's quant, -4..3, in the block at b: the third bit
// (bit (e/32) of hmask byte e%32) set means no -4 offset.
float q3k_q(uint b, uint e) {
	uint h = (uint(w8[b + e % 32]) >> (e / 32)) & 1u;
	return float(int(q23k_low(b + 32, e)) - 4 * int(1u - h));
}

// dequant returns element i of the row of type t starting at byte row_off.
float dequant(uint t, uint row_off, uint i) {
	if (is_iq4(t)) {
		return dequant_iq4(t, row_off, i);
	}
	switch (t) {
	case T_F32:
		return w32[row_off / 4 + i];
	case T_F16:
		return unpackHalf2x16(uint(w16[row_off / 2 + i])).x;
	case T_BF16:
		return uintBitsToFloat(uint(w16[row_off / 2 + i]) << 16);
	case T_Q8_0: {
		uint b = row_off + (i / 32) * 34;
		return f16_at(b) * float(int8_t(w8[b + 2 + i % 32]));
	}
	case T_Q4_0: {
		uint b = row_off + (i / 32) * 18, j = i % 32;
		uint q = uint(w8[b + 2 + (j & 15)]);
		q = j < 16 ? (q & 0xFu) : (q >> 4);
		return f16_at(b) * (float(q) - 8.0);
	}
	case T_Q4_1: {
		uint b = row_off + (i / 32) * 20, j = i % 32;
		uint q = uint(w8[b + 4 + (j & 15)]);
		q = j < 16 ? (q & 0xFu) : (q >> 4);
		return f16_at(b) * float(q) + f16_at(b + 2);
	}
	case T_Q5_0: {
		uint b = row_off + (i / 32) * 22, j = i % 32;
		uint q = uint(w8[b + 6 + (j & 15)]);
		q = (j < 16 ? (q & 0xFu) : (q >> 4)) | (((u32_at(b + 2) >> j) & 1u) << 4);
		return f16_at(b) * (float(q) - 16.0);
	}
	case T_Q5_1: {
		uint b = row_off + (i / 32) * 24, j = i % 32;
		uint q = uint(w8[b + 8 + (j & 15)]);
		q = (j < 16 ? (q & 0xFu) : (q >> 4)) | (((u32_at(b + 4) >> j) & 1u) << 4);
		return f16_at(b) * float(q) + f16_at(b + 2);
	}
	case T_Q2_K: {
		uint b = row_off + (i / 256) * 84, e = i % 256;
		vec2 sm = q2k_scale_min(b, e / 16);
		return f16_at(b + 80) * sm.x * float(q23k_low(b + 16, e)) - f16_at(b + 82) * sm.y;
	}
	case T_Q3_K: {
		uint b = row_off + (i / 256) * 110, e = i % 256;
		return f16_at(b + 108) * q3k_scale(b + 96, e / 16) * q3k_q(b, e);
	}
	case T_Q4_K: {
		uint b = row_off + (i / 256) * 144, e = i % 256;
		uint sub = e / 32, l = e % 32;
		vec2 sm = scale_min_k4(b + 4, sub);
		uint q = uint(w8[b + 16 + (sub / 2) * 32 + l]);
		q = (sub & 1u) == 0u ? (q & 0xFu) : (q >> 4);
		return f16_at(b) * sm.x * float(q) - f16_at(b + 2) * sm.y;
	}
	case T_Q5_K: {
		uint b = row_off + (i / 256) * 176, e = i % 256;
		uint sub = e / 32, l = e % 32;
		vec2 sm = scale_min_k4(b + 4, sub);
		uint q = uint(w8[b + 48 + (sub / 2) * 32 + l]);
		q = (sub & 1u) == 0u ? (q & 0xFu) : (q >> 4);
		q |= ((uint(w8[b + 16 + l]) >> sub) & 1u) << 4;
		return f16_at(b) * sm.x * float(q) - f16_at(b + 2) * sm.y;
	}
	case T_Q6_K: {
		uint b = row_off + (i / 256) * 210, e = i % 256;
		uint half_ = e / 128, r = e % 128, quad = r / 32, l = r % 32;
		uint ql = uint(w8[b + 64 * half_ + l + (quad & 1u) * 32]);
		ql = quad >= 2 ? (ql >> 4) : (ql & 0xFu);
		uint qh = (uint(w8[b + 128 + 32 * half_ + l]) >> (2 * quad)) & 3u;
		float sc = float(int8_t(w8[b + 192 + 8 * half_ + l / 16 + 2 * quad]));
		return f16_at(b + 208) * sc * (float(ql | (qh << 4)) - 32.0);
	}
	}
	return 0.0;
}

// dequant32 fills v with the 32 elements of sub-block sb (elements
// 32*sb .. 32*sb+31) of the row at row_off, reading each block's scales
// once. Only for the block types (not F32/F16/BF16).
void dequant32(uint t, uint row_off, uint sb, out float v[32]) {
	if (is_iq4(t)) {
		dequant32_iq4(t, row_off, sb, v);
		return;
	}
	switch (t) {
	case T_Q8_0: {
		uint b = row_off + sb * 34;
		float d = f16_at(b);
		[[unroll]] for (uint j = 0; j < 32; j++) {
			v[j] = d * float(int8_t(w8[b + 2 + j]));
		}
		return;
	}
	case T_Q4_0: {
		uint b = row_off + sb * 18;
		float d = f16_at(b);
		[[unroll]] for (uint j = 0; j < 16; j++) {
			uint q = uint(w8[b + 2 + j]);
			v[j] = d * (float(q & 0xFu) - 8.0);
			v[j + 16] = d * (float(q >> 4) - 8.0);
		}
		return;
	}
	case T_Q4_1: {
		uint b = row_off + sb * 20;
		float d = f16_at(b), m = f16_at(b + 2);
		[[unroll]] for (uint j = 0; j < 16; j++) {
			uint q = uint(w8[b + 4 + j]);
			v[j] = d * float(q & 0xFu) + m;
			v[j + 16] = d * float(q >> 4) + m;
		}
		return;
	}
	case T_Q5_0: {
		uint b = row_off + sb * 22;
		float d = f16_at(b);
		uint qh = u32_at(b + 2);
		[[unroll]] for (uint j = 0; j < 16; j++) {
			uint q = uint(w8[b + 6 + j]);
			v[j] = d * (float((q & 0xFu) | (((qh >> j) & 1u) << 4)) - 16.0);
			v[j + 16] = d * (float((q >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16.0);
		}
		return;
	}
	case T_Q5_1: {
		uint b = row_off + sb * 24;
		float d = f16_at(b), m = f16_at(b + 2);
		uint qh = u32_at(b + 4);
		[[unroll]] for (uint j = 0; j < 16; j++) {
			uint q = uint(w8[b + 8 + j]);
			v[j] = d * float((q & 0xFu) | (((qh >> j) & 1u) << 4)) + m;
			v[j + 16] = d * float((q >> 4) | (((qh >> (j + 16)) & 1u) << 4)) + m;
		}
		return;
	}
	case T_Q2_K: {
		uint b = row_off + (sb / 8) * 84, e0 = (sb % 8) * 32;
		float d = f16_at(b + 80), m = f16_at(b + 82);
		vec2 sm0 = q2k_scale_min(b, e0 / 16), sm1 = q2k_scale_min(b, e0 / 16 + 1);
		[[unroll]] for (uint j = 0; j < 32; j++) {
			vec2 sm = j < 16 ? sm0 : sm1;
			v[j] = d * sm.x * float(q23k_low(b + 16, e0 + j)) - m * sm.y;
		}
		return;
	}
	case T_Q3_K: {
		uint b = row_off + (sb / 8) * 110, e0 = (sb % 8) * 32;
		float d = f16_at(b + 108);
		float s0 = d * q3k_scale(b + 96, e0 / 16), s1 = d * q3k_scale(b + 96, e0 / 16 + 1);
		[[unroll]] for (uint j = 0; j < 32; j++) {
			v[j] = (j < 16 ? s0 : s1) * q3k_q(b, e0 + j);
		}
		return;
	}
	case T_Q4_K: {
		uint b = row_off + (sb / 8) * 144, sub = sb % 8;
		vec2 sm = scale_min_k4(b + 4, sub);
		float d = f16_at(b) * sm.x, m = f16_at(b + 2) * sm.y;
		uint q0 = b + 16 + (sub / 2) * 32, shift = (sub & 1u) * 4;
		[[unroll]] for (uint j = 0; j < 32; j++) {
			v[j] = d * float((uint(w8[q0 + j]) >> shift) & 0xFu) - m;
		}
		return;
	}
	case T_Q5_K: {
		uint b = row_off + (sb / 8) * 176, sub = sb % 8;
		vec2 sm = scale_min_k4(b + 4, sub);
		float d = f16_at(b) * sm.x, m = f16_at(b + 2) * sm.y;
		uint q0 = b + 48 + (sub / 2) * 32, shift = (sub & 1u) * 4;
		[[unroll]] for (uint j = 0; j < 32; j++) {
			uint q = ((uint(w8[q0 + j]) >> shift) & 0xFu) | (((uint(w8[b + 16 + j]) >> sub) & 1u) << 4);
			v[j] = d * float(q) - m;
		}
		return;
	}
	case T_Q6_K: {
		uint b = row_off + (sb / 8) * 210, e0 = (sb % 8) * 32;
		uint half_ = e0 / 128, quad = (e0 % 128) / 32;
		uint ql0 = b + 64 * half_ + (quad & 1u) * 32, qlshift = quad >= 2 ? 4u : 0u;
		uint qh0 = b + 128 + 32 * half_, qhshift = 2 * quad;
		uint sc0 = b + 192 + 8 * half_ + 2 * quad;
		float d = f16_at(b + 208);
		float s0 = d * float(int8_t(w8[sc0])), s1 = d * float(int8_t(w8[sc0 + 1]));
		[[unroll]] for (uint j = 0; j < 32; j++) {
			uint q = ((uint(w8[ql0 + j]) >> qlshift) & 0xFu) | (((uint(w8[qh0 + j]) >> qhshift) & 3u) << 4);
			v[j] = (j < 16 ? s0 : s1) * (float(q) - 32.0);
		}
		return;
	}
	}
	[[unroll]] for (uint j = 0; j < 32; j++) {
		v[j] = 0.0;
	}
}
