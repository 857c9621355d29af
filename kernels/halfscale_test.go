package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// ggmlQ8Dot is ggml's Q8_0-family dot product, in float64: the input is
// quantized per 32 values with q = round(x·127/max|x|) and the f16 scale
// f16(max|x|/127); each block adds isum · d_w · d_x.
func ggmlQ8Dot(typ gguf.Type, w []byte, exact []float32, x []float32) float64 {
	var sum float64
	for b := 0; b < len(x)/32; b++ {
		blk := x[b*32 : (b+1)*32]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := quant.F16ToF32(quant.F32ToF16(amax / 127))
		for i, v := range blk {
			q := math.RoundToEven(float64(v * (127 / amax)))
			sum += float64(exact[b*32+i]) * q * float64(d)
		}
	}
	return sum
}

// TestQ8ScalesHalf holds the Q8_0-family kernels (Go and SIMD) to ggml's
// convention of f16 activation scales, to float32 summation noise: with
// f32 scales the results differ by up to 2^-12 relative (the f16 rounding
// of a block scale), about a hundred times more than allowed here.
func TestQ8ScalesHalf(t *testing.T) {
	forEachISA(t, func(t *testing.T, v isa) {
		rng := rand.New(rand.NewPCG(3, 5))
		for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0} {
			for _, sh := range [][2]int{{64, 256}, {9, 512}, {3, 1024}, {5, 288}} {
				rows, cols := sh[0], sh[1]
				w, exact := weights(t, rng, typ, rows, cols)
				xs := [][]float32{randVec(rng, cols), randVec(rng, cols), randVec(rng, cols), randVec(rng, cols), randVec(rng, cols)}
				ys := make([][]float32, len(xs))
				for i := range ys {
					ys[i] = make([]float32, rows)
				}
				m := &MatVec{}
				if err := m.DoBatch(typ, w, rows, cols, xs, ys); err != nil {
					t.Fatal(err)
				}
				var worst float64
				for b, x := range xs {
					for r := range rows {
						want := ggmlQ8Dot(typ, w, exact[r*cols:(r+1)*cols], x)
						var scale float64
						for c := range cols {
							scale += math.Abs(float64(exact[r*cols+c]) * float64(x[c]))
						}
						worst = max(worst, math.Abs(float64(ys[b][r])-want)/scale)
					}
				}
				if !(worst <= 2e-6) {
					t.Errorf("%s %dx%d: differs from ggml's f16-scale product by %.3g of Σ|w·x|", typ, rows, cols, worst)
				}
			}
		}
	})
}
