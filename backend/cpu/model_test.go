package cpu

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
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

// relErr is the RMS difference of got and want relative to want's RMS.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

// TestModelsMatchCPUSession: the llama graph on the executor gives the
// old CPU session's logits, prompt and decode: bit for bit, since every
// op calls the kernel the session calls on the same values in the same
// order. tol is there to name the bound if that ever stops holding.
func TestModelsMatchCPUSession(t *testing.T) {
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
	for _, tc := range []struct {
		rel string
		tol float64
	}{
		{"llama/stories260K.gguf", 1e-5},
		{"llama/llama-2-tiny-random.gguf", 1e-5},
		{"arch/llama3.gguf", 1e-5},
		{"arch/qwen2.gguf", 1e-5},
		{"arch/llama3-Q8_0.gguf", 1e-5},
		{"arch/llama3-Q4_K_M.gguf", 1e-5},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			m := loadModel(t, tc.rel)
			g, _ := session(t, m, 64)
			old, err := m.NewCPUSession(64)
			if err != nil {
				t.Fatal(err)
			}
			for i, step := range [][]int32{prompt, {300}, {301}, {302}} {
				pos := 0
				if i > 0 {
					pos = len(prompt) + i - 1
				}
				if err := g.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				if err := old.Eval(step, pos); err != nil {
					t.Fatal(err)
				}
				lg, _ := g.Logits()
				lo, _ := old.Logits()
				if len(lg) != len(lo) {
					t.Fatalf("step %d: %d logits, the CPU session %d", i, len(lg), len(lo))
				}
				diff := 0
				for j := range lg {
					if math.Float32bits(lg[j]) != math.Float32bits(lo[j]) {
						diff++
					}
				}
				if e := relErr(lg, lo); e > tc.tol || diff > 0 {
					t.Errorf("step %d: %d of %d logits differ from the CPU session's, relative error %.3g (bound %g)", i, diff, len(lg), e, tc.tol)
				}
			}
		})
	}
}

type completion struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
}

// TestGreedyMatchesLlamaCpp: 64 greedy ids equal llama.cpp's CPU run.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			m := loadModel(t, tc.model)
			b, err := os.ReadFile(testmodels.Reference(t, tc.ref+"/cpu.completion.ids.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want completion
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			s, _ := session(t, m, 256)
			got, err := llama.Greedy(s, want.PromptIDs, len(want.GeneratedIDs))
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.GeneratedIDs {
				if got[i] != want.GeneratedIDs[i] {
					t.Fatalf("ids differ from token %d on:\n got %v\nwant %v", i, got, want.GeneratedIDs)
				}
			}
		})
	}
}

// TestDecodeNoAlloc: a warm one-token step, at a position not seen
// before, allocates nothing.
func TestDecodeNoAlloc(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	s, _ := session(t, m, 128)
	for pos := range 4 {
		if err := s.Eval([]int32{403}, pos); err != nil {
			t.Fatal(err)
		}
	}
	pos := 4
	// Made once: the runner keeps the slice in its batch, so a literal
	// in the loop would escape and be the step's one allocation.
	tok := []int32{403}
	if a := testing.AllocsPerRun(20, func() {
		if err := s.Eval(tok, pos); err != nil {
			t.Fatal(err)
		}
		pos++
	}); a > 0 {
		t.Fatalf("%v allocations per warm decode step", a)
	}
}
