package kernels

import "math"

// The elementwise ops of a forward step. Each runs the AVX2 kernel where
// the CPU has it (exp by a polynomial within 2 ulp, sums in vector lanes)
// and the Go version (the reference) elsewhere or when portable is set.

// RMSNorm sets out = x / rms(x) * w; out may be x. len(out) and len(w)
// must be at least len(x).
func RMSNorm(out, x, w []float32, eps float32, portable bool) {
	out, w = out[:len(x)], w[:len(x)]
	if use(portable) >= isaAVX2 && len(x) > 0 {
		simdRMSNorm(out, x, w, eps)
		return
	}
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	scale := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i := range x {
		out[i] = x[i] * scale * w[i]
	}
}

// SiLUMul sets g[i] = silu(g[i]) * u[i].
func SiLUMul(g, u []float32, portable bool) {
	u = u[:len(g)]
	if use(portable) >= isaAVX2 && len(g) > 0 {
		simdSiLUMul(g, u)
		return
	}
	for i, v := range g {
		g[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
	}
}

// Softmax turns x into probabilities in place.
func Softmax(x []float32, portable bool) {
	if len(x) == 0 {
		return
	}
	if use(portable) >= isaAVX2 {
		simdSoftmax(x)
		return
	}
	top := x[0]
	for _, v := range x[1:] {
		top = max(top, v)
	}
	var sum float32
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - top)))
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// Add sets dst[i] += src[i].
func Add(dst, src []float32, portable bool) {
	src = src[:len(dst)]
	if use(portable) >= isaAVX2 && len(dst) > 0 {
		simdAdd(dst, src)
		return
	}
	for i := range dst {
		dst[i] += src[i]
	}
}
