package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
)

// BenchmarkProduct multiplies a 1024x1024 weight by a batch of 128 inputs
// on matvec (16 inputs per weight pass) and on the tiled matmul shader
// with the device's tiles. It reports inputs per second.
func BenchmarkProduct(b *testing.B) {
	const rows, cols, n = 1024, 1024, 128
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeF16} {
		for _, tiled := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/tiled=%v", typ, tiled), func(b *testing.B) {
				hb := newHarness(b, 64, true)
				if !tiled {
					hb.k.TiledFrom = 0
				}
				w, err := hb.k.Upload("bench", typ, rows, cols, randomWeights(b, r, typ, rows, cols))
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				xb, yb := hb.floats(randFloats(r, n*cols, 1)), hb.poisoned(n*rows)
				m, err := hb.k.BindProduct(hb.sets, w, xb.All(), yb.All(), vk.Range{}, n)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					hb.run(func(s *vk.Step) { m.Record(hb.k, s, n, cols, rows, 0, false) })
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "inputs/s")
			})
		}
	}
}
