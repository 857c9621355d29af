package llama

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
)

// TestRefuseUnimplemented writes variants of llama3.gguf that ask for math
// this package does not implement; each must be refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	src, err := gguf.Open(testmodels.Model(t, "arch/llama3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tests := []struct {
		name string
		edit func(*gguf.Builder) error
		want string // in the error
	}{
		{"yarn", func(b *gguf.Builder) error {
			b.SetString("llama.rope.scaling.type", "yarn")
			b.SetFloat32("llama.rope.scaling.factor", 4)
			return nil
		}, `llama.rope.scaling.type = "yarn"`},
		{"longrope", func(b *gguf.Builder) error {
			b.SetString("llama.rope.scaling.type", "longrope")
			return nil
		}, `llama.rope.scaling.type = "longrope"`},
		{"yarn parameter", func(b *gguf.Builder) error {
			b.SetFloat32("llama.rope.scaling.attn_factor", 1.2)
			return nil
		}, "llama.rope.scaling.attn_factor"},
		{"final logit soft-cap", func(b *gguf.Builder) error {
			b.SetFloat32("llama.final_logit_softcapping", 30)
			return nil
		}, "llama.final_logit_softcapping"},
		{"sliding window", func(b *gguf.Builder) error {
			b.SetUint32("llama.attention.sliding_window", 4096)
			return nil
		}, "llama.attention.sliding_window"},
		{"experts", func(b *gguf.Builder) error {
			b.SetUint32("llama.expert_count", 8)
			return nil
		}, "llama.expert_count"},
		{"value length", func(b *gguf.Builder) error {
			b.SetUint32("llama.attention.value_length", 64)
			return nil
		}, "value_length = 64"},
		{"unknown attention tensor", func(b *gguf.Builder) error {
			return b.AddTensor("blk.1.attn_output.bias", gguf.TypeF32, []uint64{256}, make([]byte, 256*4))
		}, `"blk.1.attn_output.bias"`},
		{"unknown ffn tensor", func(b *gguf.Builder) error {
			return b.AddTensor("blk.0.ffn_gate_inp.weight", gguf.TypeF32, []uint64{256, 4}, make([]byte, 256*4*4))
		}, `"blk.0.ffn_gate_inp.weight"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := gguf.FromFile(src)
			if err := tc.edit(b); err != nil {
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
			defer f.Close()
			_, err = Load(f)
			if !errors.Is(err, model.ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v; want model.ErrUnsupported naming %s", err, tc.want)
			}
		})
	}
}

// TestAcceptHarmless: metadata that does not change the math, and the
// implemented scalings, still load.
func TestAcceptHarmless(t *testing.T) {
	src, err := gguf.Open(testmodels.Model(t, "arch/llama3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := gguf.FromFile(src)
	b.SetString("general.author", "someone")
	b.SetString("general.license", "mit")
	b.SetUint32("general.quantization_version", 2)
	b.SetString("llama.rope.scaling.type", "linear")
	b.SetFloat32("llama.rope.scaling.factor", 2)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.RopeScale != 0.5 {
		t.Errorf("linear factor 2: RopeScale %v, want 0.5", m.Config.RopeScale)
	}
}

// TestRopeFrequencies: rope_freqs divides each pair's frequency.
func TestRopeFrequencies(t *testing.T) {
	m := loadModel(t, "arch/llama3.gguf")
	factors, err := m.RopeFreqs.Float32()
	if err != nil {
		t.Fatal(err)
	}
	freq, err := m.RopeFrequencies()
	if err != nil {
		t.Fatal(err)
	}
	if len(freq) != 16 || len(factors) != 16 {
		t.Fatalf("%d frequencies, %d factors; want 16", len(freq), len(factors))
	}
	for i, f := range freq {
		want := 1 / (float64(factors[i]) * math.Pow(500000, float64(i)/16))
		if d := f/want - 1; d > 1e-12 || d < -1e-12 {
			t.Errorf("pair %d: frequency %v, want %v", i, f, want)
		}
	}
}
