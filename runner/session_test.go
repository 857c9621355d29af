package runner_test

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/runner"
)

// forgetting is the reference executor, counting the graphs it is told
// to forget.
type forgetting struct {
	*compute.Reference
	forgot int
}

func (f *forgetting) Forget(*compute.Graph) { f.forgot++ }

// TestGraphsBounded: prompts of many lengths leave a bounded number of
// graphs, and the executor hears of each one dropped; the logits are the
// same whether a graph was kept or built again.
func TestGraphsBounded(t *testing.T) {
	f, err := gguf.Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var exec *forgetting
	s, err := runner.New(runner.Config{File: f, Build: m.Build, Vocab: m.Config.VocabSize, Context: 64},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			exec = &forgetting{Reference: compute.NewReference(c, cells)}
			return exec, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311}
	var first []float32
	for n := 1; n <= len(prompt); n++ { // 20 shapes, one each
		if err := s.Eval(prompt[:n], 0); err != nil {
			t.Fatal(err)
		}
		l, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			first = append([]float32(nil), l...)
		}
	}
	// The one-token shape was dropped long ago: built again, same logits.
	if err := s.Eval(prompt[:1], 0); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Logits()
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("logit %d: %v, then %v from the rebuilt graph", i, first[i], again[i])
		}
	}
	// 21 shapes were built in all (the session's first is the one-token
	// shape), 8 are kept.
	if exec.forgot != 21-8 {
		t.Errorf("executor told to forget %d graphs, want %d", exec.forgot, 21-8)
	}
}
