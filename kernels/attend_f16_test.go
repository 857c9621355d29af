package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/quant"
)

// TestAttendWeightsHalf: Attend (Go and AVX2) leaves in scores the
// attention weights it multiplied v by, each an f16 value, as llama.cpp
// converts them for its product with the f16 V cache.
func TestAttendWeightsHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const hd, stride, span = 32, 64, 37
	q, k, v := randVec(rng, hd), randVec(rng, span*stride), randVec(rng, span*stride)
	for _, portable := range []bool{true, false} {
		if !portable && !SIMD() {
			continue
		}
		scores := make([]float32, span)
		out := make([]float32, hd)
		Attend(out, q, k, v, stride, 0.3, scores, portable)
		for p, w := range scores {
			if h := quant.F16ToF32(quant.F32ToF16(w)); h != w {
				t.Fatalf("portable=%v: weight %d = %g is not an f16 value", portable, p, w)
			}
		}
		for i := range hd {
			var want float32
			for p, w := range scores {
				want += w * v[p*stride+i]
			}
			if d := want - out[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("portable=%v: out[%d] = %g, Σ weights·v = %g", portable, i, out[i], want)
			}
		}
	}
}
