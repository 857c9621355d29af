package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// TestLlama3BPE builds the Llama 3 byte-level BPE from its encoder.json and
// vocab.bpe (the GGUF is not available) and checks llama.cpp's llama-bpe
// vectors. The vocabulary files lack the special tokens, which these
// vectors do not use.
func TestLlama3BPE(t *testing.T) {
	dir := filepath.Dir(testmodels.Model(t, "vocab/ollama-llama3.2/encoder.json"))
	raw, err := os.ReadFile(filepath.Join(dir, "encoder.json"))
	if err != nil {
		t.Fatal(err)
	}
	var enc map[string]int32
	if err := json.Unmarshal(raw, &enc); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, len(enc))
	for text, id := range enc {
		tokens[id] = text
	}
	merges, err := os.ReadFile(filepath.Join(dir, "vocab.bpe"))
	if err != nil {
		t.Fatal(err)
	}
	var mergeList []string
	for _, line := range strings.Split(string(merges), "\n") {
		if line != "" && !strings.HasPrefix(line, "#version") {
			mergeList = append(mergeList, line)
		}
	}
	s := defaultSpec(ModelBPE)
	s.Pre, s.Tokens, s.Merges = "llama-bpe", tokens, mergeList
	tok, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	base := testmodels.Model(t, "vocab/vectors-only/ggml-vocab-llama-bpe.gguf.inp")
	inputs, want := readVectors(t, strings.TrimSuffix(base, ".inp"))
	for i, in := range inputs {
		got, err := tok.Encode(in, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("%q:\n got %v\nwant %v", in, got, want[i])
		}
		if dec := tok.Decode(got); dec != in {
			t.Errorf("Decode(Encode(%q)) = %q", in, dec)
		}
	}
}
