package llama

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
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

// sessions are the ways to run the forward pass on the CPU.
var sessions = []struct {
	name string
	open func(*Model, int) (*RefSession, error)
}{
	{"reference", (*Model).NewReferenceSession},
	{"cpu", (*Model).NewCPUSession},
}

// TestGreedyMatchesLlamaCpp holds both CPU sessions to llama.cpp's CPU
// token ids, all 64 of them, for an F32 and an F16 model.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
	} {
		for _, sess := range sessions {
			t.Run(tc.ref+"/"+sess.name, func(t *testing.T) {
				m := loadModel(t, tc.model)
				want := loadCompletion(t, tc.ref)
				s, err := sess.open(m, 256)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Greedy(s, want.PromptIDs, len(want.GeneratedIDs))
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

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// TestBatchAndRewind: a batched prefill equals token-by-token evaluation,
// and evaluating again from an earlier position reproduces the logits.
func TestBatchAndRewind(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	prompt := []int32{1, 403, 407, 261, 378, 432, 383, 286}

	batched, _ := m.NewReferenceSession(64)
	if err := batched.Eval(prompt, 0); err != nil {
		t.Fatal(err)
	}
	lb, _ := batched.Logits()
	want := slices.Clone(lb)

	single, _ := m.NewReferenceSession(64)
	for i, tok := range prompt {
		if err := single.Eval([]int32{tok}, i); err != nil {
			t.Fatal(err)
		}
	}
	ls, _ := single.Logits()
	if e := relErr(ls, want); e > 1e-5 {
		t.Errorf("batched vs single logits: relative error %.3g > 1e-5", e)
	}

	// Overwrite positions 5.. with other tokens, then rewind to the original.
	if err := batched.Eval([]int32{9, 10, 11}, 5); err != nil {
		t.Fatal(err)
	}
	lo, _ := batched.Logits()
	if relErr(lo, want) < 1e-3 {
		t.Error("different tokens gave the same logits")
	}
	if err := batched.Eval(prompt[5:], 5); err != nil {
		t.Fatal(err)
	}
	lr, _ := batched.Logits()
	if e := relErr(lr, want); e > 1e-6 {
		t.Errorf("rewound logits: relative error %.3g", e)
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
func benchDecode(b *testing.B, newSession func(*Model) (*RefSession, error)) {
	m := loadModel(b, "llama/stories260K.gguf")
	s, err := newSession(m)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Eval([]int32{1}, 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Eval([]int32{403}, 1+i%64); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkReferenceDecode(b *testing.B) {
	benchDecode(b, func(m *Model) (*RefSession, error) { return m.NewReferenceSession(512) })
}

// TestCPUSessionLogits holds the kernel-backed session's prompt logits to
// the reference session's.
func TestCPUSessionLogits(t *testing.T) {
	for _, tc := range []struct{ model, ref string }{
		{"llama/stories260K.gguf", "stories260K"},
		{"llama/llama-2-tiny-random.gguf", "llama-2-tiny-random"},
	} {
		m := loadModel(t, tc.model)
		prompt := loadCompletion(t, tc.ref).PromptIDs
		ref, _ := m.NewReferenceSession(64)
		cpu, _ := m.NewCPUSession(64)
		if err := ref.Eval(prompt, 0); err != nil {
			t.Fatal(err)
		}
		if err := cpu.Eval(prompt, 0); err != nil {
			t.Fatal(err)
		}
		lr, _ := ref.Logits()
		lc, _ := cpu.Logits()
		// Both sessions round keys, values, queries and attention weights to
		// f16; the kernels' float32 sums (in another order than the
		// reference's float64) move a value across an f16 rounding step now
		// and then, which costs more than the sums' own 1e-7.
		if e := relErr(lc, lr); e > 1e-4 {
			t.Errorf("%s: prompt logits relative error %.3g vs the reference", tc.ref, e)
		}
	}
}

func BenchmarkCPUDecode(b *testing.B) {
	benchDecode(b, func(m *Model) (*RefSession, error) { return m.NewCPUSession(512) })
}

// BenchmarkCPUPrefill evaluates a 128-token prompt, as llama-bench's pp128.
func BenchmarkCPUPrefill(b *testing.B) {
	for _, rel := range []string{"llama/stories260K.gguf", "llama/llama-2-tiny-random.gguf"} {
		b.Run(rel[len("llama/"):len(rel)-len(".gguf")], func(b *testing.B) {
			m := loadModel(b, rel)
			s, err := m.NewCPUSession(512)
			if err != nil {
				b.Fatal(err)
			}
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

// TestCPUDecodeNoAlloc: a warm decode step on the CPU session allocates
// nothing.
func TestCPUDecodeNoAlloc(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	s, err := m.NewCPUSession(128)
	if err != nil {
		t.Fatal(err)
	}
	for pos := range 4 {
		if err := s.Eval([]int32{403}, pos); err != nil {
			t.Fatal(err)
		}
	}
	pos := 4
	if a := testing.AllocsPerRun(20, func() {
		if err := s.Eval([]int32{403}, pos); err != nil {
			t.Fatal(err)
		}
		pos++
	}); a > 0 {
		t.Fatalf("%v allocations per warm decode step", a)
	}
}
