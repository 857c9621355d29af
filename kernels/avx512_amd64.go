//go:build cgo

package kernels

/*
#include <stdint.h>
void kernels_matvec_q4_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec4_q4_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec_q5_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec4_q5_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec_q8_0_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec4_q8_0_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec_iq4_nl_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nb);
void kernels_matvec4_iq4_nl_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nb);
void kernels_matvec_q4_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q4_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q5_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, const int32_t *xs, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q5_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q6_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q6_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q2_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q2_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q3_k_vnni(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q3_k_vnni(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_f16_vnni(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols);
void kernels_matvec4_f16_vnni(const uint16_t *w, const float *x0, const float *x1, const float *x2, const float *x3, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long cols);
void kernels_matvec_bf16_512(const uint16_t *w, const float *x, float *y, long lo, long hi, long cols);
*/
import "C"

import "github.com/vkinfer/vkinfer/gguf"

// The C build's AVX-512 rows of the kernel table (avx512_amd64.c): the
// vnni set's kernels, one input and four, for every type with AVX2
// kernels but F32 and IQ4_XS (whose AVX2 kernels were as fast or faster)
// and BF16, whose kernel is the bf16 set's. A type must get both
// or neither of vnni and vnnix4: a batch runs the four-input kernel of
// the best set that has one, and it must be the single-input kernel's
// set for DoBatch to equal Do.
func init() {
	k := typeTable[gguf.TypeQ4_0]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q4_0_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q4_0_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ5_0]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q5_0_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q5_0_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ8_0]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q8_0_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q8_0_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeIQ4_NL]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_iq4_nl_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_iq4_nl_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ4_K]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q4_k_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q4_k_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ5_K]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q5_k_vnni(u8p(w), i8p(in.xq), f32p(in.xd), i32p(in.xs), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q5_k_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), i32p(in.xs), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ6_K]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q6_k_vnni(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q6_k_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ2_K]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q2_k_vnni(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q2_k_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ3_K]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q3_k_vnni(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q3_k_vnni(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeF16]
	k.vnni = func(w []byte, in *input, y []float32, lo, hi, cols int) {
		C.kernels_matvec_f16_vnni(u16p(w), f32p(in.x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
	}
	k.vnnix4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, _, cols int) {
		C.kernels_matvec4_f16_vnni(u16p(w), f32p(in.x[0]), f32p(in.x[1]), f32p(in.x[2]), f32p(in.x[3]),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(cols))
	}
	typeTable[gguf.TypeBF16].bf16 = func(w []byte, in *input, y []float32, lo, hi, cols int) {
		C.kernels_matvec_bf16_512(u16p(w), f32p(in.x), f32p(y), C.long(lo), C.long(hi), C.long(cols))
	}
}
