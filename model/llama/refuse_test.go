package llama

import (
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
)

// TestRefuseUnimplemented writes variants of llama3.gguf that ask for math
// this package does not implement; each must be refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	archtest.CheckRefused(t, "arch/llama3.gguf", func(f *gguf.File) error { _, err := Load(f); return err }, []archtest.Refusal{
		{Name: "yarn", Edit: func(b *gguf.Builder) error {
			b.SetString("llama.rope.scaling.type", "yarn")
			b.SetFloat32("llama.rope.scaling.factor", 4)
			return nil
		}, Want: `llama.rope.scaling.type = "yarn"`},
		{Name: "longrope", Edit: func(b *gguf.Builder) error {
			b.SetString("llama.rope.scaling.type", "longrope")
			return nil
		}, Want: `llama.rope.scaling.type = "longrope"`},
		{Name: "yarn parameter", Edit: func(b *gguf.Builder) error {
			b.SetFloat32("llama.rope.scaling.attn_factor", 1.2)
			return nil
		}, Want: "llama.rope.scaling.attn_factor"},
		{Name: "final logit soft-cap", Edit: func(b *gguf.Builder) error {
			b.SetFloat32("llama.final_logit_softcapping", 30)
			return nil
		}, Want: "llama.final_logit_softcapping"},
		{Name: "sliding window", Edit: func(b *gguf.Builder) error {
			b.SetUint32("llama.attention.sliding_window", 4096)
			return nil
		}, Want: "llama.attention.sliding_window"},
		{Name: "shared experts", Edit: func(b *gguf.Builder) error {
			b.SetUint32("llama.expert_shared_count", 1)
			return nil
		}, Want: "llama.expert_shared_count"},
		{Name: "expert weights scale", Edit: func(b *gguf.Builder) error {
			b.SetFloat32("llama.expert_weights_scale", 2.5)
			return nil
		}, Want: "llama.expert_weights_scale"},
		{Name: "value length", Edit: func(b *gguf.Builder) error {
			b.SetUint32("llama.attention.value_length", 64)
			return nil
		}, Want: "value_length = 64"},
		{Name: "unknown attention tensor", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("blk.1.attn_output.bias", gguf.TypeF32, []uint64{256}, make([]byte, 256*4))
		}, Want: `"blk.1.attn_output.bias"`},
		{Name: "unknown ffn tensor", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("blk.0.ffn_gate_inp.weight", gguf.TypeF32, []uint64{256, 4}, make([]byte, 256*4*4))
		}, Want: `"blk.0.ffn_gate_inp.weight"`},
	})
}

// TestAcceptHarmless: metadata that does not change the math, and the
// implemented scalings, still load.
func TestAcceptHarmless(t *testing.T) {
	f := archtest.Variant(t, "arch/llama3.gguf", func(b *gguf.Builder) error {
		b.SetString("general.author", "someone")
		b.SetString("general.license", "mit")
		b.SetUint32("general.quantization_version", 2)
		b.SetString("llama.rope.scaling.type", "linear")
		b.SetFloat32("llama.rope.scaling.factor", 2)
		return nil
	})
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
