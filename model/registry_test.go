package model_test

import (
	"errors"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
	_ "github.com/vkinfer/vkinfer/model/bert"
	_ "github.com/vkinfer/vkinfer/model/llama"
)

// TestOpen: a file opens through the architecture its metadata names,
// which says what it serves; an unregistered architecture is refused.
func TestOpen(t *testing.T) {
	tests := []struct {
		file     string
		generate bool
		embed    bool
		vocab    int
		err      error
	}{
		{"llama/stories260K.gguf", true, true, 512, nil},
		{"arch/qwen2.gguf", true, true, 512, nil},
		{"embed/all-MiniLM-L6-v2-Q4_K_M.gguf", false, true, 30522, nil},
		{"arch/nomic-bert.gguf", false, false, 0, model.ErrArch},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := gguf.Open(testmodels.Model(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			a, m, err := model.Open(f)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Open: %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			if a.Serves(model.Generate) != tc.generate || a.Serves(model.Embed) != tc.embed || m.Vocab() != tc.vocab {
				t.Errorf("capabilities %v, vocabulary %d", a.Capabilities, m.Vocab())
			}
			if mem := m.Memory(128, 32, 4); mem.Weights != model.TensorBytes(f) || mem.Scratch == 0 {
				t.Errorf("memory %+v", mem)
			}
		})
	}
}
