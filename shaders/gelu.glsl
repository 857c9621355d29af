// GELU as ggml's CPU backend computes it: the tanh approximation looked up
// in an f16 table, so at the input rounded to f16 and rounded to f16 on
// the way out; the tails (|x| >= 10) exact. Needs round.glsl.
float gelu_ggml(float x) {
	if (x <= -10.0) {
		return 0.0;
	}
	if (x >= 10.0) {
		return x;
	}
	float f = round_f16(x);
	// tanh(y) = 1 - 2/(exp(2y)+1), which stays finite for large |y|.
	float y = 0.7978845608028654 * f * (1.0 + 0.044715 * f * f);
	float t = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
	return round_f16(0.5 * f * (1.0 + t));
}
