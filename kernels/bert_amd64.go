//go:build cgo

package kernels

/*
#include <stdint.h>
void kernels_gelu(float *x, long n, const uint16_t *tab);
void kernels_layernorm(float *out, const float *x, const float *w, const float *bias, long n, float eps);
*/
import "C"

import "unsafe"

func simdGELU(x []float32, tab *geluTab) {
	C.kernels_gelu(f32p(x), C.long(len(x)), (*C.uint16_t)(unsafe.Pointer(&tab[0])))
}

// simdLayerNorm passes a nil w or bias as NULL.
func simdLayerNorm(out, x, w, bias []float32, eps float32) {
	var wp, bp *C.float
	if w != nil {
		wp = f32p(w)
	}
	if bias != nil {
		bp = f32p(bias)
	}
	C.kernels_layernorm(f32p(out), f32p(x), wp, bp, C.long(len(x)), C.float(eps))
}
