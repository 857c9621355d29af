//go:build cgo

package kernels

/*
#cgo LDFLAGS: -lm
#include <stdint.h>
void kernels_rmsnorm(float *out, const float *x, const float *w, long n, float eps);
void kernels_silu_mul(float *g, const float *u, long n);
void kernels_softmax(float *x, long n);
long kernels_argmax(const float *x, long n);
long kernels_above(const float *x, long n, float floor, int32_t *ids);
void kernels_add(float *dst, const float *src, long n);
void kernels_attend(float *out, const float *q, const float *k, const float *v, long stride, long hd, const long *runs, long nruns, float scale, float *scores, int round);
void kernels_attend_tile_f16(float *out, const float *q, long tstride, long nt, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, float scale, long block, int online, float *scratch);
void kernels_attend_tile_f16_avx512(float *out, const float *q, long tstride, long nt, long ng, long nkv, const long *spans, long longest, const uint16_t *k, const uint16_t *v, long stride, long hd, const long *runs, float scale, long block, int online, float *scratch);
void kernels_gather_f16(float *dst, const uint16_t *src, long stride, long hd, const long *runs, long nruns);
void kernels_gather_q8_0(float *dst, const uint8_t *src, long row_bytes, long off, long hd, const long *runs, long nruns);
void kernels_rope(float *x, const float *cs, long n, long hd, long rd, int neox);
void kernels_round_f16(const float *x, float *out, long n);
void kernels_to_f16(const float *x, uint16_t *out, long n);
void kernels_matvec4_f32(const float *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols);
void kernels_matvec4_f16(const uint16_t *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols);
void kernels_quantize_q8(const float *x, int8_t *xq, float *xd, int32_t *xs, long nb);
void kernels_quantize_q8k(const float *x, int8_t *xq, float *xd, int32_t *xs, long nsb);
int kernels_supported(void);
int kernels_vnni_supported(void);
int kernels_avx512bw_supported(void);
int kernels_bf16_supported(void);
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
	case C.kernels_bf16_supported() != 0:
		return isaBF16
	case C.kernels_vnni_supported() != 0:
		return isaVNNI
	case C.kernels_avx512bw_supported() != 0:
		return isaAVX512
	case C.kernels_supported() != 0:
		return isaAVX2
	}
	return isaGo
}

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func u8p(w []byte) *C.uint8_t   { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w))) }
func u16p(w []byte) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(w))) }
func i8p(s []int8) *C.int8_t    { return (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(s))) }
func i32p(s []int32) *C.int32_t { return (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(s))) }

// The C build's rows of the kernel table: each type's AVX2 kernels, one
// input and four (the AVX-512 ones are avx512_amd64.go's).
func init() {
	set := func(t gguf.Type, one func(w []byte, in *input, y []float32, lo, hi, nb int), four func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int)) {
		k := typeTable[t]
		k.avx2, k.avx2x4 = one, four
	}
	set(gguf.TypeF32, func(w []byte, in *input, y []float32, lo, hi, cols int) {
		C.kernels_matvec_f32((*C.float)(unsafe.Pointer(unsafe.SliceData(w))), f32p(in.x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, _, cols int) {
		C.kernels_matvec4_f32((*C.float)(unsafe.Pointer(unsafe.SliceData(w))), f32p(in.x[0]), f32p(in.x[1]), f32p(in.x[2]), f32p(in.x[3]),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(cols))
	})
	set(gguf.TypeF16, func(w []byte, in *input, y []float32, lo, hi, cols int) {
		C.kernels_matvec_f16(u16p(w), f32p(in.x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, _, cols int) {
		C.kernels_matvec4_f16(u16p(w), f32p(in.x[0]), f32p(in.x[1]), f32p(in.x[2]), f32p(in.x[3]),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(cols))
	})
	set(gguf.TypeBF16, func(w []byte, in *input, y []float32, lo, hi, cols int) {
		C.kernels_matvec_bf16(u16p(w), f32p(in.x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
	}, nil)
	set(gguf.TypeQ8_0, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q8_0(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q8_0(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
	set(gguf.TypeQ4_0, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q4_0(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q4_0(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
	set(gguf.TypeQ5_0, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q5_0(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q5_0(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
	set(gguf.TypeQ4_K, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q4_k(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q4_k(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
	set(gguf.TypeQ5_K, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q5_k(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q5_k(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
	set(gguf.TypeQ6_K, func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q6_k(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}, func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q6_k(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	})
}

func simdRMSNorm(out, x, w []float32, eps float32) {
	C.kernels_rmsnorm(f32p(out), f32p(x), f32p(w), C.long(len(x)), C.float(eps))
}

func simdSiLUMul(g, u []float32) { C.kernels_silu_mul(f32p(g), f32p(u), C.long(len(g))) }

func simdSoftmax(x []float32) { C.kernels_softmax(f32p(x), C.long(len(x))) }

func simdArgmax(x []float32) int { return int(C.kernels_argmax(f32p(x), C.long(len(x)))) }

func simdAbove(x []float32, floor float32, ids []int32) int {
	return int(C.kernels_above(f32p(x), C.long(len(x)), C.float(floor), i32p(ids)))
}

func simdAdd(dst, src []float32) { C.kernels_add(f32p(dst), f32p(src), C.long(len(dst))) }

func simdQuantizeQ8(x []float32, xq []int8, xd []float32, xs []int32) {
	C.kernels_quantize_q8(f32p(x), i8p(xq), f32p(xd), i32p(xs), C.long(len(xd)))
}

func simdQuantizeQ8K(x []float32, xq []int8, xd []float32, xs []int32) {
	C.kernels_quantize_q8k(f32p(x), i8p(xq), f32p(xd), i32p(xs), C.long(len(x)/256))
}

func simdRoundF16(x, out []float32) { C.kernels_round_f16(f32p(x), f32p(out), C.long(len(x))) }

func simdToF16(dst []uint16, x []float32) { C.kernels_to_f16(f32p(x), h16p(dst), C.long(len(x))) }

func simdAttend(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32) {
	simdAttendRound(out, q, k, v, stride, runs, scale, scores, true)
}

func simdAttendF32(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32) {
	simdAttendRound(out, q, k, v, stride, runs, scale, scores, false)
}

func simdAttendRound(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32, round bool) {
	// Run is two ints, as the C side reads each run: two longs.
	rp := (*C.long)(unsafe.Pointer(unsafe.SliceData(runs)))
	r := C.int(0)
	if round {
		r = 1
	}
	C.kernels_attend(f32p(out), f32p(q), f32p(k), f32p(v), C.long(stride), C.long(len(q)), rp, C.long(len(runs)), C.float(scale), f32p(scores), r)
}

func simdAttendTileHalf(t *AttendTile, longest int, wide bool) {
	// Run is two ints and a span one, as the C side reads them: longs.
	rp := (*C.long)(unsafe.Pointer(unsafe.SliceData(t.Runs)))
	sp := (*C.long)(unsafe.Pointer(unsafe.SliceData(t.Spans)))
	online := C.int(0)
	if t.Online {
		online = 1
	}
	out, q, ts, nt, ng, long := f32p(t.Out), f32p(t.Q), C.long(t.TokenStride), C.long(t.Tokens), C.long(t.Heads), C.long(longest)
	k, v, stride, hd, scale, block := h16p(t.K), h16p(t.V), C.long(t.Stride), C.long(t.HeadDim), C.float(t.Scale), C.long(tileBlock(t.HeadDim))
	nkv := C.long(t.kvHeads())
	if wide {
		C.kernels_attend_tile_f16_avx512(out, q, ts, nt, ng, nkv, sp, long, k, v, stride, hd, rp, scale, block, online, f32p(t.Scratch))
		return
	}
	C.kernels_attend_tile_f16(out, q, ts, nt, ng, nkv, sp, long, k, v, stride, hd, rp, scale, block, online, f32p(t.Scratch))
}

func simdGatherF16(dst []float32, src []uint16, stride, hd int, runs []Run) {
	rp := (*C.long)(unsafe.Pointer(unsafe.SliceData(runs)))
	C.kernels_gather_f16(f32p(dst), h16p(src), C.long(stride), C.long(hd), rp, C.long(len(runs)))
}

func simdGatherQ8_0(dst []float32, src []byte, rowBytes, off, hd int, runs []Run) {
	rp := (*C.long)(unsafe.Pointer(unsafe.SliceData(runs)))
	C.kernels_gather_q8_0(f32p(dst), u8p(src), C.long(rowBytes), C.long(off), C.long(hd), rp, C.long(len(runs)))
}

func h16p(s []uint16) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(s))) }

func simdRope(x, cs []float32, hd int, neox bool) {
	n := C.int(0)
	if neox {
		n = 1
	}
	C.kernels_rope(f32p(x), f32p(cs), C.long(len(x)), C.long(hd), C.long(len(cs)), n)
}
