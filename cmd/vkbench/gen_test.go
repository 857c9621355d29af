package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
)

// TestGenerateBench15m writes the bench-15m models and checks that they
// load with the full Llama-2 tokenizer, have the stories15M shape, and
// give logits with a real spread.
func TestGenerateBench15m(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir, testmodels.Model(t, "vocab/ggml-vocab-llama-spm.gguf"), "bench-15m"); err != nil {
		t.Fatal(err)
	}
	for _, mx := range mixes {
		f, err := gguf.Open(filepath.Join(dir, "bench-15m-"+mx.name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := llama.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config
		if c.Dim != 288 || c.Layers != 6 || c.Heads != 6 || c.FFN != 768 || c.VocabSize != 32000 {
			t.Errorf("%s: config %+v", mx.name, c)
		}
		tok, err := tokenizer.FromGGUF(f)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := tok.Encode("Once upon a time", true, false)
		if !slices.Equal(ids, []int32{1, 9038, 2501, 263, 931}) {
			t.Errorf("%s: tokenizer gives %v", mx.name, ids)
		}
		rm, err := runner.Open(f, cpu.Backend{})
		if err != nil {
			t.Fatal(err)
		}
		defer rm.Close()
		s, err := rm.NewSession(64)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Eval(ids, 0); err != nil {
			t.Fatal(err)
		}
		logits, err := s.Logits()
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(logits)
		slices.Sort(sorted)
		top, second, median := sorted[len(sorted)-1], sorted[len(sorted)-2], sorted[len(sorted)/2]
		if top-median < 5 || top-second < 0.05 {
			t.Errorf("%s: logits without a real spread: top %.2f, second %.2f, median %.2f", mx.name, top, second, median)
		}
	}
}
