// The non-linear 4-bit types (quant/iquants.go), included by weights.glsl
// after its raw weight access: 4-bit codes index the int8 levels of
// kvalues_iq4nl, packed as Q4_0's (byte j of a 32-block holds element j
// low, j+16 high); IQ4_NL blocks of 32 carry an f16 d, IQ4_XS super-blocks
// of 256 an f16 d and a 6-bit scale ls per 32-block, the scale d·(ls−32).
// Both products are those of quant's dequantization, so values agree bit
// for bit.

const float kvalues_iq4nl[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

bool is_iq4(uint t) {
	return t == T_IQ4_NL || t == T_IQ4_XS;
}

// iq4_block returns the scale of 32-block sb of the row at row_off and
// sets qs to the byte offset of its 16 code bytes.
float iq4_block(uint t, uint row_off, uint sb, out uint qs) {
	if (t == T_IQ4_NL) {
		uint b = row_off + sb * 18;
		qs = b + 2;
		return f16_at(b);
	}
	uint b = row_off + (sb / 8) * 136, s = sb % 8;
	qs = b + 8 + 16 * s;
	uint h = uint(w8[b + 2]) | (uint(w8[b + 3]) << 8);
	uint ls = ((uint(w8[b + 4 + s / 2]) >> (4 * (s % 2))) & 0xFu) | (((h >> (2 * s)) & 3u) << 4);
	return f16_at(b) * float(int(ls) - 32);
}

float dequant_iq4(uint t, uint row_off, uint i) {
	uint qs;
	float d = iq4_block(t, row_off, i / 32, qs);
	uint j = i % 32;
	uint q = uint(w8[qs + (j & 15u)]);
	return d * kvalues_iq4nl[j < 16 ? (q & 0xFu) : (q >> 4)];
}

void dequant32_iq4(uint t, uint row_off, uint sb, out float v[32]) {
	uint qs;
	float d = iq4_block(t, row_off, sb, qs);
	[[unroll]] for (uint j = 0; j < 16; j++) {
		uint q = uint(w8[qs + j]);
		v[j] = d * kvalues_iq4nl[q & 0xFu];
		v[j + 16] = d * kvalues_iq4nl[q >> 4];
	}
}
