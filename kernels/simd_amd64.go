//go:build cgo

package kernels

/*
#cgo LDFLAGS: -lm
#include <stdint.h>
void kernels_rmsnorm(float *out, const float *x, const float *w, long n, float eps);
void kernels_silu_mul(float *g, const float *u, long n);
void kernels_softmax(float *x, long n);
void kernels_add(float *dst, const float *src, long n);
void kernels_attend(float *out, const float *q, const float *k, const float *v, long stride, long hd, long span, float scale, float *scores);
void kernels_rope(float *x, const float *cs, long n, long hd, long rd, int neox);
void kernels_round_f16(const float *x, float *out, long n);
void kernels_matvec4_f32(const float *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols);
void kernels_matvec4_f16(const uint16_t *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols);
void kernels_quantize_q8(const float *x, int8_t *xq, float *xd, int32_t *xs, long nb);
int kernels_supported(void);
int kernels_vnni_supported(void);
void kernels_matvec_q8_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nb);
void kernels_matvec4_q8_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec_f32(const float *w, const float *x, float *y, long lo, long hi, long cols);
void kernels_matvec_f16(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols);
void kernels_matvec_q8_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec_q4_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec_q5_0(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec_q6_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec_q4_k(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q8_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec4_q4_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec4_q5_0(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec4_q4_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q5_k(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q5_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_bf16(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols);
void kernels_matvec4_q6_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
*/
import "C"

import (
	"unsafe"

	"github.com/vkinfer/vkinfer/gguf"
)

// hostISA is the best kernel set this CPU runs.
var hostISA = detectISA()

// detectISA asks the CPU (and, through it, the OS's saved vector state,
// which GCC's feature checks include) which C kernels it can run.
func detectISA() isa {
	switch {
	case C.kernels_vnni_supported() != 0:
		return isaVNNI
	case C.kernels_supported() != 0:
		return isaAVX2
	}
	return isaGo
}

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func simdF32(w []byte, x, y []float32, lo, hi, cols int) {
	C.kernels_matvec_f32((*C.float)(unsafe.Pointer(unsafe.SliceData(w))), f32p(x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
}

func simdF16(w []byte, x, y []float32, lo, hi, cols int) {
	C.kernels_matvec_f16((*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(w))), f32p(x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
}

func i32p(s []int32) *C.int32_t { return (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(s))) }

func vnniQ8_0(w []byte, xq []int8, xd []float32, y []float32, lo, hi, nb int) {
	C.kernels_matvec_q8_0_vnni((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
}

func simdQ8_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	C.kernels_matvec_q8_0((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), i32p(xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
}

func simdQ4_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	C.kernels_matvec_q4_0((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), i32p(xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
}

func simdQ4_K(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nsb int) {
	C.kernels_matvec_q4_k((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd),
		(*C.int32_t)(unsafe.Pointer(unsafe.SliceData(xs))), f32p(y), C.long(lo), C.long(hi), C.long(nsb))
}

func simdQ6_K(w []byte, xq []int8, xd, y []float32, lo, hi, nsb int) {
	C.kernels_matvec_q6_k((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), f32p(y), C.long(lo), C.long(hi), C.long(nsb))
}

func simdQ5_K(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nsb int) {
	C.kernels_matvec_q5_k((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd),
		(*C.int32_t)(unsafe.Pointer(unsafe.SliceData(xs))), f32p(y), C.long(lo), C.long(hi), C.long(nsb))
}

func simdBF16(w []byte, x, y []float32, lo, hi, cols int) {
	C.kernels_matvec_bf16((*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(w))), f32p(x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
}

func simdQ5_0(w []byte, xq []int8, xd []float32, xs []int32, y []float32, lo, hi, nb int) {
	C.kernels_matvec_q5_0((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), i32p(xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
}

// simd4 runs set v's four-input kernel of t on inputs b0..b0+3 (quantized
// one after another in xq/xd/xs, cols and nb apart) and outputs ys,
// reporting false when t has none.
func simd4(v isa, t gguf.Type, w []byte, xq []int8, xd []float32, xs []int32, cols, nb int, ys [4][]float32, lo, hi int) bool {
	wp := (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w)))
	qp := (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq)))
	switch t {
	case gguf.TypeQ8_0:
		if v == isaVNNI {
			C.kernels_matvec4_q8_0_vnni(wp, qp, C.long(cols), f32p(xd), C.long(nb), f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
			break
		}
		C.kernels_matvec4_q8_0(wp, qp, C.long(cols), f32p(xd), i32p(xs), C.long(nb), f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	case gguf.TypeQ4_0:
		C.kernels_matvec4_q4_0(wp, qp, C.long(cols), f32p(xd), i32p(xs), C.long(nb), f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	case gguf.TypeQ5_0:
		C.kernels_matvec4_q5_0(wp, qp, C.long(cols), f32p(xd), i32p(xs), C.long(nb), f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	case gguf.TypeQ4_K:
		C.kernels_matvec4_q4_k(wp, qp, C.long(cols), f32p(xd), (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(xs))), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	case gguf.TypeQ5_K:
		C.kernels_matvec4_q5_k(wp, qp, C.long(cols), f32p(xd), (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(xs))), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	case gguf.TypeQ6_K:
		C.kernels_matvec4_q6_k(wp, qp, C.long(cols), f32p(xd), C.long(cols/32), f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	default:
		return false
	}
	return true
}

func simdRMSNorm(out, x, w []float32, eps float32) {
	C.kernels_rmsnorm(f32p(out), f32p(x), f32p(w), C.long(len(x)), C.float(eps))
}

func simdSiLUMul(g, u []float32) { C.kernels_silu_mul(f32p(g), f32p(u), C.long(len(g))) }

func simdSoftmax(x []float32) { C.kernels_softmax(f32p(x), C.long(len(x))) }

func simdAdd(dst, src []float32) { C.kernels_add(f32p(dst), f32p(src), C.long(len(dst))) }

func simdQuantizeQ8(x []float32, xq []int8, xd []float32, xs []int32) {
	C.kernels_quantize_q8(f32p(x), (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(xq))), f32p(xd), (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(xs))), C.long(len(xd)))
}

// simdFloat4 runs the four-input F32 or F16 kernel on inputs xs (for F16
// already rounded) and outputs ys, reporting false for other types.
func simdFloat4(t gguf.Type, w []byte, xs, ys [4][]float32, lo, hi, cols int) bool {
	switch t {
	case gguf.TypeF32:
		C.kernels_matvec4_f32((*C.float)(unsafe.Pointer(unsafe.SliceData(w))), f32p(xs[0]), f32p(xs[1]), f32p(xs[2]), f32p(xs[3]),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(cols))
	case gguf.TypeF16:
		C.kernels_matvec4_f16((*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(w))), f32p(xs[0]), f32p(xs[1]), f32p(xs[2]), f32p(xs[3]),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(cols))
	default:
		return false
	}
	return true
}

func simdRoundF16(x, out []float32) { C.kernels_round_f16(f32p(x), f32p(out), C.long(len(x))) }

func simdAttend(out, q, k, v []float32, stride int, scale float32, scores []float32) {
	C.kernels_attend(f32p(out), f32p(q), f32p(k), f32p(v), C.long(stride), C.long(len(q)), C.long(len(scores)), C.float(scale), f32p(scores))
}

func simdRope(x, cs []float32, hd int, neox bool) {
	n := C.int(0)
	if neox {
		n = 1
	}
	C.kernels_rope(f32p(x), f32p(cs), C.long(len(x)), C.long(hd), C.long(len(cs)), n)
}
