package kernels

import "math"

// LayerNorm sets out to x less its mean over its standard deviation,
// times w and plus bias where they are given (nil skips either), with the
// mean and variance summed in float64 (as compute.Reference does). out
// may be x. The SIMD kernel sums four lanes at a time, so its float64
// sums part from the Go loop's in the last bits, which rounding to
// float32 almost always hides; portable forces the Go code.
func LayerNorm(out, x, w, bias []float32, eps float32, portable bool) {
	out = out[:len(x)]
	if w != nil {
		w = w[:len(x)]
	}
	if bias != nil {
		bias = bias[:len(x)]
	}
	if use(portable) >= isaAVX2 && len(x) > 0 {
		simdLayerNorm(out, x, w, bias, eps)
		return
	}
	var sum, ss float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	for i, v := range x {
		y := float32((float64(v) - mean) * inv)
		if w != nil {
			y *= w[i]
		}
		if bias != nil {
			y += bias[i]
		}
		out[i] = y
	}
}
