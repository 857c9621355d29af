package nomicbert

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model"
)

// idsTokenizer gives every text the same ids: the reference's prompt ids,
// which already hold the special tokens.
type idsTokenizer []int32

func (t idsTokenizer) Encode(string, bool, bool) ([]int32, error) { return t, nil }

// TestEmbedMatchesLlamaCpp: the pooled, L2-normalised vector of
// llama.cpp's prompt, on every executor through the registry, has a
// cosine of at least 0.9999 to llama.cpp's.
func TestEmbedMatchesLlamaCpp(t *testing.T) {
	ref := archtest.Load(t, "nomic-bert", "the_cat_sat_on_the_warm_mat")
	for _, exec := range archtest.Executors {
		t.Run(exec, func(t *testing.T) {
			enc, te, err := archtest.Open(t, "nomic-bert", exec).NewEncoder(64)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			got, err := te.EmbedTexts(enc, idsTokenizer(ref.PromptIDs), []string{"the cat sat on the warm mat"}, model.EmbedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := vecdiff.Cosine(got.Vectors[0], ref.Embedding)
			t.Logf("cosine to llama.cpp %.7f (1-cos %.2g)", c, 1-c)
			if c < 0.9999 {
				t.Errorf("cosine %.6f to llama.cpp's embedding < 0.9999", c)
			}
			if !slices.Equal(got.Tokens, []int{len(ref.PromptIDs)}) {
				t.Errorf("token counts %v, want [%d]", got.Tokens, len(ref.PromptIDs))
			}
			long := make(idsTokenizer, 65)
			if _, err := te.EmbedTexts(enc, long, []string{"x"}, model.EmbedOptions{}); !errors.Is(err, model.ErrTooLong) {
				t.Errorf("65 tokens in passes of 64: %v, want ErrTooLong", err)
			}
		})
	}
}

// TestEmbedTokenCounts: EmbedTexts, through the file's own tokenizer,
// counts the tokens each text ran as, BOS included, and a truncated text
// as the pass it was cut to. The cat sentence is llama.cpp's 14 ids (the
// reference's prompt_ids), "Once upon a time" its 5 (stories260K's
// vocabulary, which this file shares); "word " 100 times is 302 tokens.
func TestEmbedTokenCounts(t *testing.T) {
	tok := archtest.Tokenizer(t, "arch/nomic-bert.gguf")
	enc, te, err := archtest.Open(t, "nomic-bert", "cpu").NewEncoder(64)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	const cat = "The cat sat on the warm mat."
	embed := func(texts []string, opts model.EmbedOptions) (model.Embeddings, error) {
		return te.EmbedTexts(enc, tok, texts, opts)
	}
	archtest.CheckTokenCounts(t, embed, []archtest.TokenCount{
		{Name: "one text", Texts: []string{cat}, Want: []int{14}},
		{Name: "several texts", Texts: []string{cat, "Once upon a time"}, Want: []int{14, 5}},
		{Name: "one cut to a pass", Texts: []string{"Once upon a time", strings.Repeat("word ", 100)}, Truncate: true, Want: []int{5, 64}},
	})
}
