package cpu

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/bert"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
)

// TestMiniLMMatchesForward: MiniLM's graph on the executor, several texts
// packed in one batch (non-causal attention per sequence, learned
// positions, LayerNorm, GELU), gives the BERT CPU forward pass's
// embeddings.
func TestMiniLMMatchesForward(t *testing.T) {
	f, err := gguf.Open(testmodels.Model(t, "embed/all-MiniLM-L6-v2-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := bert.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := runner.NewEncoder(runner.Config{File: f, Build: m.Build, Vocab: m.Config.Vocab, Context: 512},
		func(c compute.CacheShape, cells int) (compute.Executor, error) { return New(c, cells) })
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	texts := []string{"a sentence", "Once upon a time", "The quick brown fox jumps over the lazy dog.", "vkinfer"}
	got, err := m.EmbedTextsWith(enc, tok, texts, bert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.EmbedTexts(tok, texts, bert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if e := relErr(got[i], want[i]); e > 1e-5 {
			t.Errorf("%q: relative error %.3g vs the forward pass", texts[i], e)
		}
	}
}
