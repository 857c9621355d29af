// Weights read four elements at a time: CPU Vulkan devices pay per load,
// GPUs like the wider loads too.

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
