//go:build !cgo || !amd64

package kernels

// hostISA is the Go set where the C kernels are not built.
const hostISA = isaGo

func simdRMSNorm(out, x, w []float32, eps float32) { panic("kernels: no SIMD build") }
func simdSiLUMul(g, u []float32)                   { panic("kernels: no SIMD build") }
func simdSoftmax(x []float32)                      { panic("kernels: no SIMD build") }
func simdArgmax(x []float32) int                   { panic("kernels: no SIMD build") }

func simdAbove(x []float32, floor float32, ids []int32) int { panic("kernels: no SIMD build") }
func simdAdd(dst, src []float32)                            { panic("kernels: no SIMD build") }

func simdQuantizeQ8(x []float32, xq []int8, xd []float32, xs []int32) {
	panic("kernels: no SIMD build")
}

func simdQuantizeQ8K(x []float32, xq []int8, xd []float32, xs []int32) {
	panic("kernels: no SIMD build")
}

func simdRoundF16(x, out []float32) { panic("kernels: no SIMD build") }

func simdAttend(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32) {
	panic("kernels: no SIMD build")
}

func simdAttendF32(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32) {
	panic("kernels: no SIMD build")
}

func simdAttendTileHalf(t *AttendTile, longest int, wide bool) {
	panic("kernels: no SIMD build")
}

func simdGatherF16(dst []float32, src []uint16, stride, hd int, runs []Run) {
	panic("kernels: no SIMD build")
}

func simdGatherQ8_0(dst []float32, src []byte, rowBytes, off, hd int, runs []Run) {
	panic("kernels: no SIMD build")
}

func simdRope(x, cs []float32, hd int, neox bool) { panic("kernels: no SIMD build") }

func simdToF16(dst []uint16, x []float32) {
	panic("kernels: no SIMD build")
}
