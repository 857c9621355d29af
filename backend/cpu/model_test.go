package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/kvtest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/runner"
)

func loadModel(t testing.TB, rel string) *llama.Model {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// session runs m's graph on a CPU executor with ctx cells, which it
// returns too.
func session(t testing.TB, m *llama.Model, ctx int) (*runner.Session, *Executor) {
	t.Helper()
	var e *Executor
	s, err := runner.New(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: ctx},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			var err error
			e, err = New(c, cells)
			return e, err
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, e
}

// TestModelsMatchReference: the llama graph on the executor gives
// compute.Reference's logits for the same graph, prompt and decode, on
// F32, F16 and quantized models. Both round activations as llama.cpp
// does, so they part only by the executor's float32 sums against the
// reference's float64 ones: to float32 noise, except where a 1e-7
// difference carries a value across one of those roundings (an f16 key
// or value, an int8 of a Q8_K block), which these random-weight models
// amplify: llama3 and qwen2 cross f16 steps (1e-4 and 2.6e-4), and
// llama3-Q4_K_M crosses a Q8_K step in its third step (6%, under 1e-5 before
// it). stories260K's f16 attention weights cross a rounding step now and
// then too (1.2e-5): its 8-wide heads' scores sum in kernels.AttendTile's
// tree, not the reference's order. The bounds sit above those
// measurements; model/llama holds this executor to llama.cpp itself,
// token by token.
func TestModelsMatchReference(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
	for _, tc := range []struct {
		rel string
		tol float64 // relative RMS error of every step's logits
	}{
		{"llama/stories260K.gguf", 1e-4},
		{"llama/llama-2-tiny-random.gguf", 1e-6},
		{"arch/llama3.gguf", 5e-4},
		{"arch/qwen2.gguf", 1e-3},
		{"arch/llama3-Q8_0.gguf", 1e-6},
		{"arch/llama3-Q4_K_M.gguf", 0.1},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			m := loadModel(t, tc.rel)
			g, _ := session(t, m, 64)
			ref, err := runner.New(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: 64},
				func(c compute.CacheShape, cells int) (compute.Executor, error) {
					return compute.NewReference(c, cells), nil
				})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ref.Close() })
			var worst float64
			for i, step := range [][]int32{prompt, {300}, {301}, {302}} {
				pos := 0
				if i > 0 {
					pos = len(prompt) + i - 1
				}
				if err := g.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				if err := ref.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				lg, err := g.Logits()
				if err != nil {
					t.Fatal(err)
				}
				lr, err := ref.Logits()
				if err != nil {
					t.Fatal(err)
				}
				if len(lg) != len(lr) {
					t.Fatalf("step %d: %d logits, the reference %d", i, len(lg), len(lr))
				}
				e := vecdiff.RelRMS(lg, lr)
				worst = max(worst, e)
				if e > tc.tol {
					t.Errorf("step %d: logits relative error %.3g vs compute.Reference (bound %g)", i, e, tc.tol)
				}
			}
			t.Logf("largest relative error %.3g", worst)
		})
	}
}

// TestKVTypes: each KV cache type on real models, against
// compute.Reference keeping the same type (float32 noise, as
// TestModelsMatchReference: llama3's random weights carry a 1e-7
// difference across an f16 step now and then) and keeping f32 (what the
// type's rounding costs: on stories260K, a trained model, f16 measured
// 2e-3 and q8_0 5e-2, whose blocks of 32 span four of its 8-wide heads;
// llama3's random weights amplify it to 1e-2 and 0.14). stories260K's f16
// cache measured 4.9e-5 against the Reference keeping f16, an attention
// weight crossing an f16 step (see TestModelsMatchReference). llama-2-tiny's
// rows of 8 values cannot hold q8_0 blocks (TestErrors).
func TestKVTypes(t *testing.T) {
	for _, tc := range []struct {
		rel    string
		bounds map[string]kvtest.Bound
	}{
		{"llama/stories260K.gguf", map[string]kvtest.Bound{"f32": {Same: 1e-5, F32: 1e-5}, "f16": {Same: 1e-4, F32: 5e-3}, "q8_0": {Same: 1e-5, F32: 0.1}}},
		{"llama/llama-2-tiny-random.gguf", map[string]kvtest.Bound{"f32": {Same: 1e-6, F32: 1e-6}, "f16": {Same: 1e-6, F32: 1e-4}}},
		{"arch/llama3.gguf", map[string]kvtest.Bound{"f32": {Same: 5e-5, F32: 5e-5}, "f16": {Same: 5e-3, F32: 0.05}, "q8_0": {Same: 5e-5, F32: 0.3}}},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			cfg, newExec := kvSetup(t, tc.rel)
			kvtest.Check(t, cfg, newExec, tc.bounds)
		})
	}
}

// TestFlashAttention: an f16 cache attended flash (runner.Config.
// FlashAttention) against compute.Reference attending flash, whose
// weights meet the values unrounded (float32 noise: the online softmax
// rescales in float32 where the reference sums in float64: measured
// 6.1e-7, 1.1e-7, and 3.0e-4 and 3.5e-4 on the random-weight models,
// which carry a difference across an f16 step now and then), and against
// the Reference keeping f32 (the keys' and values' f16 rounding alone:
// 7.0e-4, 1.1e-5, 8.3e-3, 8.2e-3).
func TestFlashAttention(t *testing.T) {
	for _, tc := range []struct {
		rel   string
		bound kvtest.Bound
	}{
		{"llama/stories260K.gguf", kvtest.Bound{Same: 5e-6, F32: 5e-3}},
		{"llama/llama-2-tiny-random.gguf", kvtest.Bound{Same: 1e-6, F32: 1e-4}},
		{"arch/llama3.gguf", kvtest.Bound{Same: 1e-3, F32: 0.05}},
		{"arch/qwen2.gguf", kvtest.Bound{Same: 1e-3, F32: 0.05}},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			cfg, newExec := kvSetup(t, tc.rel)
			kvtest.CheckFlash(t, cfg, newExec, tc.bound)
		})
	}
}

// kvSetup loads rel as the kvtest checks run it: a context of 64, on this
// package's executors.
func kvSetup(t *testing.T, rel string) (runner.Config, runner.NewExecutor) {
	m := loadModel(t, rel)
	return runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: 64},
		func(c compute.CacheShape, cells int) (compute.Executor, error) { return New(c, cells) }
}
