package phi3

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/runner"
)

// variant writes phi3.gguf with edit applied and opens it.
func variant(t *testing.T, edit func(*gguf.Builder) error) *gguf.File {
	t.Helper()
	src, err := gguf.Open(testmodels.Model(t, "arch/phi3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := gguf.FromFile(src)
	if err := edit(b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRefuseUnimplemented: variants of phi3.gguf asking for math this
// package does not implement are refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	tests := []struct {
		name string
		edit func(*gguf.Builder) error
		want string // in the error
	}{
		{"longrope", func(b *gguf.Builder) error {
			b.SetString("phi3.rope.scaling.type", "longrope")
			return nil
		}, `phi3.rope.scaling.type = "longrope"`},
		{"longrope factors", func(b *gguf.Builder) error {
			return b.AddTensor("rope_factors_long.weight", gguf.TypeF32, []uint64{16}, make([]byte, 16*4))
		}, `"rope_factors_long.weight"`},
		{"unknown key", func(b *gguf.Builder) error {
			b.SetFloat32("phi3.rope.scaling.attn_factor", 1.19)
			return nil
		}, "phi3.rope.scaling.attn_factor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(variant(t, tc.edit)); !errors.Is(err, model.ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrUnsupported naming %s", err, tc.want)
			}
		})
	}
}

// TestSlidingWindow: phi3.attention.sliding_window limits attention. A
// window of 3 changes the last logits of a public prompt; the file's
// 2047 gives exactly the logits of no window at all (0, as llama.cpp
// reads it).
func TestSlidingWindow(t *testing.T) {
	prompt := archtest.Load(t, "phi3", archtest.Prompts[1]).PromptIDs
	logits := func(window int) []float32 {
		f := variant(t, func(b *gguf.Builder) error {
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
