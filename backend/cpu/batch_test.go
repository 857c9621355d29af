package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/batchtest"
)

// TestBatchInvariance: on real models, a sequence's logits have the same
// bits kept in base cells or in scattered pages, alone or in one batch
// beside 15 other sequences.
func TestBatchInvariance(t *testing.T) {
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		t.Run(rel, func(t *testing.T) {
			m := loadModel(t, rel)
			batchtest.Check(t, batchtest.Model{File: m.File, Build: m.Build,
				Executor: func(c compute.CacheShape, cells int) (compute.Executor, error) { return New(c, cells) }}, 16)
		})
	}
}
