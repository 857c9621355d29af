package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestElementwise runs each kernel set's ops (portable false, the set
// forced) against the Go reference (portable true) on random inputs of
// widths around the vector size. The Go set must give the reference
// exactly; the C ones are within a relative error of the largest value of
// 1e-6 for add (exact) and rmsnorm (sum order), 2e-6 where the polynomial
// exp enters (silu_mul, softmax).
func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	ops := []struct {
		name string
		tol  float64
		run  func(a, b []float32, portable bool)
	}{
		{"rmsnorm", 1e-6, func(a, b []float32, p bool) { RMSNorm(a, a, b, 1e-5, p) }},
		{"silu_mul", 2e-6, func(a, b []float32, p bool) { SiLUMul(a, b, p) }},
		{"softmax", 2e-6, func(a, b []float32, p bool) { Softmax(a, p) }},
		{"add", 0, func(a, b []float32, p bool) { Add(a, b, p) }},
	}
	forEachISA(t, func(t *testing.T, v isa) {
		for _, n := range []int{1, 7, 8, 9, 64, 100, 1000} {
			for _, op := range ops {
				a, b := randVec(rng, n), randVec(rng, n)
				for i := range a {
					a[i] *= 8 // exp's range: -30..30
				}
				want, got := append([]float32(nil), a...), append([]float32(nil), a...)
				op.run(want, b, true)
				op.run(got, b, false)
				tol := op.tol
				if v == isaGo {
					tol = 0
				}
				var scale float64
				for _, x := range want {
					scale = max(scale, math.Abs(float64(x)))
				}
				for i := range want {
					if e := math.Abs(float64(got[i] - want[i])); !(e <= tol*scale) {
						t.Fatalf("%s n=%d: [%d] = %v, Go %v", op.name, n, i, got[i], want[i])
					}
				}
			}
		}
	})
}

func BenchmarkElementwise(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, w := randVec(rng, 4096), randVec(rng, 4096)
	for _, portable := range []bool{true, false} {
		for _, op := range []struct {
			name string
			run  func()
		}{
			{"rmsnorm", func() { RMSNorm(x, x, w, 1e-5, portable) }},
			{"silu_mul", func() { SiLUMul(x, w, portable) }},
			{"softmax", func() { Softmax(x, portable) }},
		} {
			b.Run(fmt.Sprintf("%s/portable=%v", op.name, portable), func(b *testing.B) {
				for b.Loop() {
					op.run()
				}
				b.SetBytes(4 * 4096)
			})
		}
	}
}
