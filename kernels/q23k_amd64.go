//go:build cgo

package kernels

/*
#include <stdint.h>
void kernels_matvec_q2_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q2_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
void kernels_matvec_q3_k(const uint8_t *w, const int8_t *xq, const float *xd, float *y, long lo, long hi, long nsb);
void kernels_matvec4_q3_k(const uint8_t *w, const int8_t *xq, long xqs, const float *xd, long xds, float *y0, float *y1, float *y2, float *y3, long lo, long hi, long nsb);
*/
import "C"

import "github.com/vkinfer/vkinfer/gguf"

// The C build's Q2_K and Q3_K kernels (q23k_amd64.c): AVX2, one input and
// four (the vnni set's are avx512_amd64.go's).
func init() {
	k := typeTable[gguf.TypeQ2_K]
	k.avx2 = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q2_k(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.avx2x4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q2_k(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
	k = typeTable[gguf.TypeQ3_K]
	k.avx2 = func(w []byte, in *input, y []float32, lo, hi, nb int) {
		C.kernels_matvec_q3_k(u8p(w), i8p(in.xq), f32p(in.xd), f32p(y), C.long(lo), C.long(hi), C.long(nb))
	}
	k.avx2x4 = func(w []byte, in *input4, ys *[4][]float32, lo, hi, nb, cols int) {
		C.kernels_matvec4_q3_k(u8p(w), i8p(in.xq), C.long(cols), f32p(in.xd), C.long(cols/32),
			f32p(ys[0]), f32p(ys[1]), f32p(ys[2]), f32p(ys[3]), C.long(lo), C.long(hi), C.long(nb))
	}
}
