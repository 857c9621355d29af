package vulkan

import (
	"testing"

	"github.com/vkinfer/vkinfer/internal/batchtest"
	"github.com/vkinfer/vkinfer/internal/opstest"
)

// TestBatchInvariance: on real models on the device, a sequence's logits
// have the same bits kept in base cells or in scattered pages, alone or
// in one batch beside 15 other sequences (16 rows: a whole group of the
// matvec shader's inputs, against one alone in its group).
func TestBatchInvariance(t *testing.T) {
	k := opstest.Kernels(t)
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		t.Run(rel, func(t *testing.T) {
			m := loadModel(t, rel)
			w := NewWeights(k)
			t.Cleanup(w.Close)
			batchtest.Check(t, batchtest.Model{File: m.File, Build: m.Build, Executor: w.NewExecutor}, 16)
		})
	}
}
