// tanh(y) as 1 - 2/(exp(2y)+1), which stays finite for any y, where the
// built-in tanh of some drivers overflows to NaN for large |y|.
float tanh_finite(float y) {
	return 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
}
