package llama

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/runner"
)

// graphSession runs m's graph on the compute reference executor.
func graphSession(t testing.TB, m *Model, ctx int) *runner.Session {
	t.Helper()
	s, err := runner.New(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: ctx},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			return compute.NewReference(c, cells), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBuildMatchesRefSession: the graph, run by the compute reference,
// gives the reference session's logits, prompt and decode. The two sum in
// other orders (RMSNorm in float32 here, float64 there); on the random-
// weight models a 1e-7 difference now and then crosses one of the f16
// roundings both make, which moves their logits by up to 1e-3.
func TestBuildMatchesRefSession(t *testing.T) {
	for _, tc := range []struct {
		rel string
		tol float64
	}{{"llama/stories260K.gguf", 1e-4}, {"llama/llama-2-tiny-random.gguf", 1e-4}, {"arch/llama3.gguf", 2e-3}, {"arch/qwen2.gguf", 2e-3}} {
		rel := tc.rel
		t.Run(rel, func(t *testing.T) {
			m := loadModel(t, rel)
			g := graphSession(t, m, 64)
			r, err := m.NewReferenceSession(64)
			if err != nil {
				t.Fatal(err)
			}
			prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
			for i, step := range [][]int32{prompt, {300}, {301}} {
				pos := 0
				if i > 0 {
					pos = len(prompt) + i - 1
				}
				if err := g.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				if err := r.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				lg, _ := g.Logits()
				lr, _ := r.Logits()
				if e := vecdiff.RelRMS(lg, lr); e > tc.tol {
					t.Errorf("step %d: graph logits relative error %.3g vs the reference session", i, e)
				}
			}
		})
	}
}
