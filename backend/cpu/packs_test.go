package cpu

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/runner"
)

// TestPackedModels: on Backend's weights the matrices of the packable
// types run packed (kernels.Gemm), and the logits of a prompt then three
// decode steps stay within float32 summation noise of the unpacked
// executor's (but where a rounding step is crossed); a prompt fed at once gives its last position the bits that
// feeding it one token at a time gives, since every matrix product (and
// every other op) computes each token alike in a batch of any size.
func TestPackedModels(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
	for _, tc := range []struct {
		rel string
		tol float64 // relative RMS error of every step's logits, against New's executor
	}{
		{"arch/llama3-Q8_0.gguf", 1e-5},
		// Crosses a Q8_K rounding step at step 2 (6%, under 1e-5 before
		// it), as against compute.Reference (TestModelsMatchReference).
		{"arch/llama3-Q4_K_M.gguf", 0.1},
		{"arch/llama3-IQ4_NL.gguf", 1e-5},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			m := loadModel(t, tc.rel)
			w, err := Backend{}.Load(m.File)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			open := func(packed bool) (*runner.Session, *Executor) {
				var e *Executor
				s, err := runner.New(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.VocabSize, Context: 64},
					func(c compute.CacheShape, cells int) (compute.Executor, error) {
						if !packed {
							var err error
							e, err = New(c, cells)
							return e, err
						}
						x, err := w.NewExecutor(c, cells)
						e, _ = x.(*Executor)
						return x, err
					})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s, e
			}
			whole, e := open(true)
			plain, _ := open(false)
			steps := [][]int32{prompt, {300}, {301}, {302}}
			for i, step := range steps {
				pos := 0
				if i > 0 {
					pos = len(prompt) + i - 1
				}
				for _, s := range []*runner.Session{whole, plain} {
					if err := s.Eval(step, pos); err != nil {
						t.Fatal(err)
					}
				}
				lw, err := whole.Logits()
				if err != nil {
					t.Fatal(err)
				}
				lp, err := plain.Logits()
				if err != nil {
					t.Fatal(err)
				}
				if d := vecdiff.RelRMS(lw, lp); !(d <= tc.tol) {
					t.Errorf("step %d: packed logits relative error %.3g from the unpacked executor's (bound %g)", i, d, tc.tol)
				}
			}
			packed := 0
			for _, p := range e.plans {
				for _, s := range p.steps {
					if s.pk != nil {
						packed++
					}
				}
			}
			if packed == 0 {
				t.Error("no matrix ran packed")
			}
			t.Logf("%d matrix products of the plans ran packed", packed)

			// The prompt one token at a time, on a fresh packed session.
			one, _ := open(true)
			var last []float32
			for i, tok := range prompt {
				if err := one.Eval([]int32{tok}, i); err != nil {
					t.Fatal(err)
				}
			}
			if last, err = one.Logits(); err != nil {
				t.Fatal(err)
			}
			batch, _ := open(true)
			if err := batch.Eval(prompt, 0); err != nil {
				t.Fatal(err)
			}
			lb, err := batch.Logits()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lb, last) {
				t.Errorf("the prompt at once and one token at a time part: relative %.3g", vecdiff.RelRMS(lb, last))
			}
		})
	}
}
