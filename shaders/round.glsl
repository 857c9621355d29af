// Rounding of f32 values to narrower formats (nearest, ties to even),
// returned as the f32 values they stand for. Written with integer and
// power-of-two arithmetic only, so every device rounds alike: the GLSL
// conversions (packHalf2x16) leave the rounding mode to the device.

// round_f16 returns x rounded to f16: a multiple of the f16 spacing of x's
// binade (2^-24 below the normal range), ±inf from 65520 up.
float round_f16(float x) {
	if (!(abs(x) < 65520.0)) {
		return x * (1.0 / 0.0); // ±inf, NaN stays NaN
	}
	int e = max(int(bitfieldExtract(floatBitsToUint(x), 23, 8)) - 127, -14) - 10;
	return roundEven(x * uintBitsToFloat(uint(127 - e) << 23)) * uintBitsToFloat(uint(127 + e) << 23);
}

// round_bf16 returns x rounded to bf16.
float round_bf16(float x) {
	uint u = floatBitsToUint(x);
	return uintBitsToFloat((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
}
