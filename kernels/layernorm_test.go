package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLayerNorm: each set against float64 arithmetic, with and without
// weight and bias, in place and not, on widths with ragged ends. The C
// set's float64 sums go four lanes wide: within 1 ulp of float32 of the
// Go loop's.
func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	for _, n := range []int{1, 7, 384, 771} {
		x, w, b := randVec(rng, n), randVec(rng, n), randVec(rng, n)
		for i := range x {
			x[i] = x[i]*3 + 5 // off-centre, so the mean matters
		}
		for _, c := range []struct {
			name string
			w, b []float32
		}{{"plain", nil, nil}, {"weight", w, nil}, {"weight+bias", w, b}} {
			var mean, ss float64
			for _, v := range x {
				mean += float64(v)
			}
			mean /= float64(n)
			for _, v := range x {
				ss += (float64(v) - mean) * (float64(v) - mean)
			}
			inv := 1 / math.Sqrt(ss/float64(n)+1e-5)
			forEachISA(t, func(t *testing.T, v isa) {
				got := make([]float32, n)
				LayerNorm(got, x, c.w, c.b, 1e-5, false)
				inPlace := append([]float32(nil), x...)
				LayerNorm(inPlace, inPlace, c.w, c.b, 1e-5, false)
				for i := range x {
					want := (float64(x[i]) - mean) * inv
					if c.w != nil {
						want *= float64(c.w[i])
					}
					if c.b != nil {
						want += float64(c.b[i])
					}
					tol := 2e-7*math.Abs(want) + 4e-7*math.Abs(float64(w[i]))
					if math.Abs(float64(got[i])-want) > tol || got[i] != inPlace[i] {
						t.Fatalf("%s n=%d [%d]: %v (in place %v), want %v", c.name, n, i, got[i], inPlace[i], want)
					}
				}
			})
		}
	}
}
