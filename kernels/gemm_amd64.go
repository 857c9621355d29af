//go:build cgo

package kernels

/*
#include <stdint.h>
#define GEMM_DECL(name) \
	void kernels_gemm_##name##_avx2(const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y, long ys, long g0, long g1, long n); \
	void kernels_gemm_##name##_avx512(const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y, long ys, long g0, long g1, long n); \
	void kernels_gemm_##name##_vnni(const uint8_t *w, long nb, const int8_t *xq, long xqs, const float *xd, const int32_t *xs, long xds, float *y, long ys, long g0, long g1, long n);
GEMM_DECL(q8_0)
GEMM_DECL(q4_0)
GEMM_DECL(iq4_nl)
GEMM_DECL(q4_k)
GEMM_DECL(q5_0)
GEMM_DECL(q6_k)
*/
import "C"

import (
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// cgemm is the C signature every GEMM kernel of gemm_amd64.c shares.
type cgemm func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long)

// wrap adapts a C GEMM kernel to gemmFunc.
func wrap(f cgemm) gemmFunc {
	return func(p *Packed, in *gemmIn, y []float32, g0, g1 int) {
		nb := p.Cols / packLayouts[p.Type].block
		f(u8p(p.Data), C.long(nb), i8p(in.xq), C.long(p.Cols), f32p(in.xd), i32p(in.xs), C.long(p.Cols/quant.QK),
			f32p(y), C.long(p.Rows), C.long(g0), C.long(g1), C.long(in.n))
	}
}

// The C build's GEMM kernels per packable type: AVX2, AVX-512, VNNI.
func init() {
	gemmSets[gguf.TypeQ8_0] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q8_0_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q8_0_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q8_0_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
	gemmSets[gguf.TypeQ4_0] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_0_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_0_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_0_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
	gemmSets[gguf.TypeIQ4_NL] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_iq4_nl_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_iq4_nl_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_iq4_nl_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
	gemmSets[gguf.TypeQ4_K] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_k_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_k_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q4_k_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
	gemmSets[gguf.TypeQ5_0] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q5_0_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q5_0_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q5_0_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
	gemmSets[gguf.TypeQ6_K] = &[3]gemmFunc{
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q6_k_avx2(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q6_k_avx512(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
		wrap(func(w *C.uint8_t, nb C.long, xq *C.int8_t, xqs C.long, xd *C.float, xs *C.int32_t, xds C.long, y *C.float, ys C.long, g0, g1, n C.long) {
			C.kernels_gemm_q6_k_vnni(w, nb, xq, xqs, xd, xs, xds, y, ys, g0, g1, n)
		}),
	}
}
