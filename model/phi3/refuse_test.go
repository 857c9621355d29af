package phi3

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/runner"
)

// TestRefuseUnimplemented: variants of phi3.gguf asking for math this
// package does not implement are refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	archtest.CheckRefused(t, "arch/phi3.gguf", func(f *gguf.File) error { _, err := Load(f); return err }, []archtest.Refusal{
		{Name: "longrope", Edit: func(b *gguf.Builder) error {
			b.SetString("phi3.rope.scaling.type", "longrope")
			return nil
		}, Want: `phi3.rope.scaling.type = "longrope"`},
		{Name: "longrope factors", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("rope_factors_long.weight", gguf.TypeF32, []uint64{16}, make([]byte, 16*4))
		}, Want: `"rope_factors_long.weight"`},
		{Name: "unknown key", Edit: func(b *gguf.Builder) error {
			b.SetFloat32("phi3.rope.scaling.attn_factor", 1.19)
			return nil
		}, Want: "phi3.rope.scaling.attn_factor"},
	})
}

// TestSlidingWindow: phi3.attention.sliding_window limits attention. A
// window of 3 changes the last logits of a public prompt; the file's
// 2047 gives exactly the logits of no window at all (0, as llama.cpp
// reads it).
func TestSlidingWindow(t *testing.T) {
	prompt := archtest.Load(t, "phi3", archtest.Prompts[1]).PromptIDs
	logits := func(window int) []float32 {
		f := archtest.Variant(t, "arch/phi3.gguf", func(b *gguf.Builder) error {
			b.SetUint32("phi3.attention.sliding_window", uint32(window))
			return nil
		})
		m, err := runner.Open(f, archtest.Backend(t, "cpu"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s := archtest.Session(t, m, 64)
		if err := s.Eval(prompt, 0); err != nil {
			t.Fatal(err)
		}
		l, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(l)
	}
	none, file, three := logits(0), logits(2047), logits(3)
	if !slices.Equal(none, file) {
		t.Errorf("a window of 2047 changes the logits of %d tokens", len(prompt))
	}
	if slices.Equal(none, three) {
		t.Errorf("a window of 3 leaves the logits of %d tokens unchanged", len(prompt))
	}
}
