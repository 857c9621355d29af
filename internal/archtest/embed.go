package archtest

import (
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// Tokenizer returns the tokenizer of the shared model rel (e.g.
// "arch/nomic-bert.gguf"), built from its file as the daemon builds it.
func Tokenizer(t testing.TB, rel string) *tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TokenCount is a case of CheckTokenCounts: texts embedded, cut to the
// pass when Truncate is set, and the tokens each must count.
type TokenCount struct {
	Name     string
	Texts    []string
	Truncate bool
	Want     []int
}

// CheckTokenCounts embeds each case's texts with embed (a model's
// EmbedTexts on an encoder and tokenizer) and requires a vector a text,
// Want as the tokens each ran as, and their sum as TotalTokens.
func CheckTokenCounts(t *testing.T, embed func(texts []string, opts model.EmbedOptions) (model.Embeddings, error), cases []TokenCount) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := embed(tc.Texts, model.EmbedOptions{Truncate: tc.Truncate})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range tc.Want {
				total += n
			}
			if !slices.Equal(got.Tokens, tc.Want) || got.TotalTokens() != total || len(got.Vectors) != len(tc.Texts) {
				t.Errorf("%d vectors, tokens %v (total %d); want %d vectors, tokens %v (total %d)",
					len(got.Vectors), got.Tokens, got.TotalTokens(), len(tc.Texts), tc.Want, total)
			}
		})
	}
}
