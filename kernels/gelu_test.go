package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGELU: every set gives GELURef's value for every input, tails and a
// ragged end (the SIMD kernel's scalar loop) included, bit for bit.
func TestGELU(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := []float32{-12, -10, -9.99, -1, -0.5, 0, 0.5, 1, 3.25, 9.99, 10, 12.5, 65504, -65504, 1e-8, -1e-8}
	for range 10001 {
		x = append(x, float32(rng.NormFloat64()*4))
	}
	forEachISA(t, func(t *testing.T, v isa) {
		got := append([]float32(nil), x...)
		GELU(got, false)
		for i, v := range x {
			if want := GELURef(v); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("GELU(%v) = %v, want %v", v, got[i], want)
			}
		}
	})
	if g := GELURef(1); math.Abs(float64(g)-0.8412) > 1e-3 {
		t.Errorf("GELU(1) = %v, want about 0.8412", g)
	}
}
