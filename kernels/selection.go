package kernels

import "slices"

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

// Above appends to ids the index of every value of x greater than floor
// (none when floor is NaN; a NaN value never is), in order. A top-k
// selection filters a vocabulary with it: only the few tokens above its
// weakest kept one need the careful comparison. portable forces the Go
// code.
func Above(x []float32, floor float32, ids []int32, portable bool) []int32 {
	if use(portable) >= isaAVX2 && len(x) > 0 {
		n := len(ids)
		ids = slices.Grow(ids, len(x))[:n+len(x)]
		return ids[:n+simdAbove(x, floor, ids[n:])]
	}
	for i, v := range x {
		if v > floor {
			ids = append(ids, int32(i))
		}
	}
	return ids
}
