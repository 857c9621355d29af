package cpu

import (
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/batchtest"
)

// TestBatchInvariance: on real models, with each KV cache type (f16
// attended both ways: the tiles' default arithmetic and flash), a
// sequence's logits have the same bits kept in base cells or in
// scattered pages, alone or in one batch beside 15 other sequences, on
// the GGUF matrices and on packed ones.
func TestBatchInvariance(t *testing.T) {
	for _, tc := range []struct {
		rel   string
		types []string
	}{
		{"llama/stories260K.gguf", []string{"f16", "f16 flash", "q8_0", "f32"}},
		{"llama/llama-2-tiny-random.gguf", []string{"f16", "f32"}}, // rows of 8: no q8_0
		{"arch/llama3-Q4_K_M.gguf", []string{"f16", "f16 flash"}},
		{"arch/llama3-Q8_0.gguf", []string{"f16"}},
	} {
		for _, kv := range tc.types {
			// Unpacked (New) and on Backend's packed matrices (kernels.Gemm).
			for _, packed := range []bool{false, true} {
				name := tc.rel + "/" + kv
				if packed {
					name += "/packed"
				}
				t.Run(name, func(t *testing.T) {
					m := loadModel(t, tc.rel)
					name, flash := strings.CutSuffix(kv, " flash")
					typ, err := compute.ParseKVType(name)
					if err != nil {
						t.Fatal(err)
					}
					w, err := Backend{}.Load(m.File)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(w.Close)
					batchtest.Check(t, batchtest.Model{File: m.File, Build: m.Build,
						Executor: func(c compute.CacheShape, cells int) (compute.Executor, error) {
							c.Type, c.Flash = typ, flash
							if packed {
								return w.NewExecutor(c, cells)
							}
							return New(c, cells)
						}}, 16)
				})
			}
		}
	}
}
