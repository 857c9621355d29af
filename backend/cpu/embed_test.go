package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model"
	_ "github.com/vkinfer/vkinfer/model/bert" // registers the architecture runner.Open looks up
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
)

// TestMiniLMMatchesReference: MiniLM opened on this backend through
// runner.Open embeds several texts packed in one pass (non-causal
// attention per sequence, learned positions, LayerNorm, GELU) as its
// graph on compute.Reference does. Both round activations as llama.cpp
// does and differ in summation order only; where that tips an int8 or f16
// rounding step the difference carries through the blocks. Measured: 1
// to 7 digits for three texts, 0.99987 for "Once upon a time".
func TestMiniLMMatchesReference(t *testing.T) {
	f, err := gguf.Open(testmodels.Model(t, "embed/all-MiniLM-L6-v2-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := runner.Open(f, Backend{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	enc, te, err := m.NewEncoder(512)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	ref, err := runner.NewEncoder(runner.Config{File: f, Build: te.BuildEmbedding, Vocab: m.Loaded.Vocab(), Context: 512},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			return compute.NewReference(c, cells), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	texts := []string{"a sentence", "Once upon a time", "The quick brown fox jumps over the lazy dog.", "vkinfer"}
	got, err := te.EmbedTexts(enc, tok, texts, model.EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := te.EmbedTexts(ref, tok, texts, model.EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		c := vecdiff.Cosine(got.Vectors[i], want.Vectors[i])
		t.Logf("%q: cosine to the reference %.7f", texts[i], c)
		if c < 0.9998 {
			t.Errorf("%q: cosine %.7f to the reference < 0.9998", texts[i], c)
		}
	}
}
