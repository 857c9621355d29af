package llama

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/runner"
)

type completion struct {
	PromptIDs    []int32 `json:"prompt_ids"`
	GeneratedIDs []int32 `json:"generated_ids"`
}

func loadModel(t testing.TB, rel string) *Model {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadCompletion(t testing.TB, name string) completion {
	t.Helper()
	b, err := os.ReadFile(testmodels.Reference(t, name+"/cpu.completion.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfig(t *testing.T) {
	tests := []struct {
		model string
		want  Config
	}{
		{"llama/stories260K.gguf", Config{Arch: "llama", VocabSize: 512, Dim: 64, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8, FFN: 172,
			ContextLength: 2048, NormEps: 1e-5, RopeDim: 8, RopeBase: 10000, RopeScale: 1, Rope: RopeNormal, Pooling: PoolingMean}},
		{"llama/llama-2-tiny-random.gguf", Config{Arch: "llama", VocabSize: 32000, Dim: 8, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 4, FFN: 32,
			ContextLength: 4096, NormEps: 1e-5, RopeDim: 4, RopeBase: 10000, RopeScale: 1, Rope: RopeNormal, Pooling: PoolingMean}},
	}
	for _, tc := range tests {
		m := loadModel(t, tc.model)
		if m.Config != tc.want {
			t.Errorf("%s: config\n got %+v\nwant %+v", tc.model, m.Config, tc.want)
		}
		if m.TiedOutput {
			t.Errorf("%s: has output.weight, reported tied", tc.model)
		}
	}
}

// backend is one way to run the forward pass. open returns a session with
// ctx positions, closed (with whatever it holds) when the test ends.
type backend struct {
	name string
	open func(t testing.TB, m *Model, ctx int) model.Session
}

var (
	// reference is RefSession, the plain f32 oracle.
	reference = backend{"reference", func(t testing.TB, m *Model, ctx int) model.Session {
		s, err := m.NewReferenceSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
	// graphReference is the graph run by compute.Reference.
	graphReference = backend{"graph-reference", func(t testing.TB, m *Model, ctx int) model.Session {
		return graphSession(t, m, ctx)
	}}
	// cpuBackend and vulkanBackend open the model as the daemon does.
	cpuBackend    = backend{"cpu", func(t testing.TB, m *Model, ctx int) model.Session { return openSession(t, m, cpu.Backend{}, ctx) }}
	vulkanBackend = backend{"vulkan", func(t testing.TB, m *Model, ctx int) model.Session {
		return openSession(t, m, vulkan.Backend{K: opstest.Kernels(t)}, ctx)
	}}
)

// openSession opens m's file through runner.Open on be, as the daemon
// does, and returns a session of ctx positions.
func openSession(t testing.TB, m *Model, be runner.Backend, ctx int) *runner.Session {
	t.Helper()
	rm, err := runner.Open(m.File, be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rm.Close)
	s, err := rm.NewSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestGreedyMatchesLlamaCpp holds every backend to llama.cpp's CPU token
// ids, all 64 of them, for an F32 and an F16 model.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
	} {
		for _, be := range []backend{reference, graphReference, cpuBackend, vulkanBackend} {
			t.Run(tc.ref+"/"+be.name, func(t *testing.T) {
				m := loadModel(t, tc.model)
				want := loadCompletion(t, tc.ref)
				got, err := Greedy(be.open(t, m, 256), want.PromptIDs, len(want.GeneratedIDs))
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
}

// TestBatchAndRewind: a batched prefill equals token-by-token evaluation
// (each Eval's tokens attending to the earlier ones' keys), and
// evaluating again from an earlier position reproduces the logits, on
// every backend. The CPU's batched and single-token arithmetic are the
// same (measured: bit-equal); the device runs a batch through other
// shaders than a single token, summing in another order (7.4e-5).
func TestBatchAndRewind(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}
	for _, tc := range []struct {
		backend
		tol float64 // relative error, batched vs token by token
	}{{reference, 1e-6}, {graphReference, 1e-6}, {cpuBackend, 1e-6}, {vulkanBackend, 3e-4}} {
		t.Run(tc.name, func(t *testing.T) {
			batched := tc.open(t, m, 64)
			if err := batched.Eval(prompt, 0); err != nil {
				t.Fatal(err)
			}
			lb, err := batched.Logits()
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(lb)

			single := tc.open(t, m, 64)
			for i, tok := range prompt {
				if err := single.Eval([]int32{tok}, i); err != nil {
					t.Fatal(err)
				}
			}
			ls, err := single.Logits()
			if err != nil {
				t.Fatal(err)
			}
			e := vecdiff.RelRMS(ls, want)
			t.Logf("batched vs single logits: relative error %.3g", e)
			if e > tc.tol {
				t.Errorf("batched vs single logits: relative error %.3g > %g", e, tc.tol)
			}

			// Overwrite positions 5.. with other tokens, then rewind to the
			// original.
			if err := batched.Eval([]int32{9, 10, 11}, 5); err != nil {
				t.Fatal(err)
			}
			lo, _ := batched.Logits()
			if vecdiff.RelRMS(lo, want) < 1e-3 {
				t.Error("different tokens gave the same logits")
			}
			if err := batched.Eval(prompt[5:], 5); err != nil {
				t.Fatal(err)
			}
			lr, _ := batched.Logits()
			if e := vecdiff.RelRMS(lr, want); e > 1e-6 {
				t.Errorf("rewound logits: relative error %.3g", e)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	s, _ := m.NewReferenceSession(4)
	if _, err := s.Logits(); err == nil {
		t.Error("Logits before Eval succeeded")
	}
	for _, tc := range []struct {
		name   string
		tokens []int32
		pos    int
	}{
		{"past the context", []int32{1, 2, 3, 4, 5}, 0},
		{"at the end of the context", []int32{1}, 4},
		{"negative position", []int32{1}, -1},
		{"token outside the vocabulary", []int32{512}, 0},
		{"negative token", []int32{-1}, 0},
	} {
		if err := s.Eval(tc.tokens, tc.pos); err == nil {
			t.Errorf("%s: Eval succeeded", tc.name)
		}
	}
}

// benchDecode measures generation like llama-bench's tg64: one token at a
// time at positions 1..64, over and over.
func benchDecode(b *testing.B, be backend) {
	m := loadModel(b, "llama/stories260K.gguf")
	s := be.open(b, m, 512)
	if err := s.Eval([]int32{1}, 0); err != nil {
		b.Fatal(err)
	}
	tok := []int32{403}
	i := 0
	for b.Loop() {
		if err := s.Eval(tok, 1+i%64); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkReferenceDecode(b *testing.B) { benchDecode(b, reference) }

// TestCPULogits holds the CPU executor's prompt logits to the reference
// session's.
func TestCPULogits(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
	} {
		m := loadModel(t, tc.model)
		prompt := loadCompletion(t, tc.ref).PromptIDs
		ref := reference.open(t, m, 64)
		cpu := cpuBackend.open(t, m, 64)
		if err := ref.Eval(prompt, 0); err != nil {
			t.Fatal(err)
		}
		if err := cpu.Eval(prompt, 0); err != nil {
			t.Fatal(err)
		}
		lr, _ := ref.Logits()
		lc, err := cpu.Logits()
		if err != nil {
			t.Fatal(err)
		}
		// Both round keys, values, queries and attention weights to f16;
		// the kernels' float32 sums (in another order than the reference's
		// float64) move a value across an f16 rounding step now and then,
		// which costs more than the sums' own 1e-7.
		e := vecdiff.RelRMS(lc, lr)
		t.Logf("%s: prompt logits relative error %.3g", tc.ref, e)
		if e > 1e-4 {
			t.Errorf("%s: prompt logits relative error %.3g > 1e-4 vs the reference", tc.ref, e)
		}
	}
}

func BenchmarkCPUDecode(b *testing.B) { benchDecode(b, cpuBackend) }

// BenchmarkCPUPrefill evaluates a 128-token prompt, as llama-bench's pp128.
func BenchmarkCPUPrefill(b *testing.B) {
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		b.Run(rel[len("llama/"):len(rel)-len(".gguf")], func(b *testing.B) {
			s := cpuBackend.open(b, loadModel(b, rel), 512)
			prompt := make([]int32, 128)
			for i := range prompt {
				prompt[i] = int32(1 + (i*37)%250)
			}
			for b.Loop() {
				if err := s.Eval(prompt, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// TestCPUDecodeNoAlloc: a warm one-token step on the CPU backend, at a
// position not seen before, allocates nothing.
func TestCPUDecodeNoAlloc(t *testing.T) {
	s := cpuBackend.open(t, loadModel(t, "llama/stories260K.gguf"), 128)
	for pos := range 4 {
		if err := s.Eval([]int32{403}, pos); err != nil {
			t.Fatal(err)
		}
	}
	pos := 4
	// Made once: the runner keeps the slice in its batch, so a literal in
	// the loop would escape and be the step's one allocation.
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
