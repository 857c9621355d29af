package bert

import (
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/runner"
)

// TestBuildMatchesForward: MiniLM's graph on the compute reference
// executor gives the CPU forward pass's embeddings, and llama.cpp's.
func TestBuildMatchesForward(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := runner.NewEncoder(runner.Config{File: f, Build: m.Build, Vocab: m.Config.Vocab, Context: 256},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			return compute.NewReference(c, cells), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	ref := referenceEmbeddings(t)
	sentence := wordIDs(t, f, "a", "sentence")
	var once []int32
	for _, c := range readTokenizeTSV(t) {
		if c.text == "Once upon a time" {
			once = c.ids
		}
	}
	batch := [][]int32{sentence, once}
	got, err := m.EmbedWith(enc, batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := m.Embed(batch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		c, o := cosine(got[i], ref[i]), cosine(got[i], old[i])
		t.Logf("input %d: cosine to llama.cpp %.6f, to the CPU forward pass %.7f", i, c, o)
		// The reference keeps activations in f32 where the CPU kernels
		// quantize them as llama.cpp does.
		if c < 0.999 || o < 0.999 {
			t.Errorf("input %d: cosine %.6f to llama.cpp, %.6f to the CPU forward pass", i, c, o)
		}
	}
}
