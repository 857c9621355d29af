package kernels

// Argmax returns the index of the largest value of x, the first of equal
// ones, skipping NaNs; 0 when x holds no number. Greedy sampling draws it
// over a whole vocabulary every token, where a scalar loop costs as much
// as a small model's attention. portable forces the Go code.
func Argmax(x []float32, portable bool) int {
	if len(x) == 0 {
		return 0
	}
	if use(portable) >= isaAVX2 {
		return simdArgmax(x)
	}
	best := 0
	for i := 1; i < len(x); i++ {
		if x[i] > x[best] || (x[best] != x[best] && x[i] == x[i]) {
			best = i
		}
	}
	return best
}
