//go:build !cgo || !amd64

package kernels

import "github.com/vkinfer/vkinfer/gguf"

// hostISA is the Go set where the C kernels are not built.
const hostISA = isaGo

func simdF32(w []byte, x, y []float32, lo, hi, cols int) { panic("kernels: no SIMD build") }
func simdF16(w []byte, x, y []float32, lo, hi, cols int) { panic("kernels: no SIMD build") }
func simdQ8_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	panic("kernels: no SIMD build")
}
func vnniQ8_0(w []byte, xq []int8, xd []float32, y []float32, lo, hi, nb int) {
	panic("kernels: no SIMD build")
}
func simdQ4_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	panic("kernels: no SIMD build")
}

func simdQ4_K(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nsb int) {
	panic("kernels: no SIMD build")
}

func simdQ6_K(w []byte, xq []int8, xd, y []float32, lo, hi, nsb int) { panic("kernels: no SIMD build") }

func simdQ5_K(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nsb int) {
	panic("kernels: no SIMD build")
}

func simdBF16(w []byte, x, y []float32, lo, hi, cols int) { panic("kernels: no SIMD build") }

func simdQ5_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	panic("kernels: no SIMD build")
}

func simd4(v isa, t gguf.Type, w []byte, xq []int8, xd []float32, xs []int32, cols, nb int, ys [4][]float32, lo, hi int) bool {
	return false
}

func simdRMSNorm(out, x, w []float32, eps float32) { panic("kernels: no SIMD build") }
func simdSiLUMul(g, u []float32)                   { panic("kernels: no SIMD build") }
func simdSoftmax(x []float32)                      { panic("kernels: no SIMD build") }
func simdAdd(dst, src []float32)                   { panic("kernels: no SIMD build") }

func simdQuantizeQ8(x []float32, xq []int8, xd []float32, xs []int32) {
	panic("kernels: no SIMD build")
}

func simdFloat4(t gguf.Type, w []byte, xs, ys [4][]float32, lo, hi, cols int) bool { return false }

func simdRoundF16(x, out []float32) { panic("kernels: no SIMD build") }

func simdAttend(out, q, k, v []float32, stride int, scale float32, scores []float32) {
	panic("kernels: no SIMD build")
}

func simdRope(x, cs []float32, hd int, neox bool) { panic("kernels: no SIMD build") }
