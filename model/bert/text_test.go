package bert

import (
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/benchdata"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// loadMiniLMText loads MiniLM and its own WordPiece tokenizer.
func loadMiniLMText(t testing.TB) (*Model, *tokenizer.Tokenizer) {
	t.Helper()
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatalf("Load(%s): %v", miniLMPath, err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

// TestMiniLMTexts embeds text through the model's own WordPiece tokenizer
// (package model/tokenizer) and compares with llama.cpp.
func TestMiniLMTexts(t *testing.T) {
	m, tok := loadMiniLMText(t)
	var _ Tokenizer = tok
	enc := cpuEncoder(t, m, 512)

	ref := referenceEmbeddings(t)
	got, err := m.EmbedTexts(enc, tok, []string{"a sentence", "Once upon a time"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a sentence", "Once upon a time"} {
		c := vecdiff.Cosine(got.Vectors[i], ref[i])
		t.Logf("%q via the tokenizer: cosine to llama.cpp %.6f", name, c)
		if c < 0.9997 {
			t.Errorf("%q: cosine %.6f < 0.9997", name, c)
		}
	}

	// Every reference text: the tokenizer's ids are llama.cpp's, so the
	// text-level result equals the id-level one exactly.
	cases := readTokenizeTSV(t)
	texts := make([]string, len(cases))
	ids := make([][]int32, len(cases))
	for i, c := range cases {
		texts[i], ids[i] = c.text, c.ids
		encoded, err := tok.Encode(c.text, true, false)
		if err != nil {
			t.Fatalf("Encode(%q): %v", c.text, err)
		}
		if !slices.Equal(encoded, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, encoded, c.ids)
		}
	}
	byText, err := m.EmbedTexts(enc, tok, texts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byIDs, err := m.Embed(enc, ids, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if d := maxAbsDiff(t, byText.Vectors[i], byIDs[i]); d != 0 {
			t.Errorf("%q: EmbedTexts and Embed differ by %.3g", texts[i], d)
		}
	}
}

// TestMiniLMTokenCounts: EmbedTexts counts the tokens each text ran as,
// [CLS] and [SEP] included, and a truncated text as the context or pass
// it was cut to. The uncut counts are the lengths of llama.cpp's ids in
// tokenize.tsv ("a sentence" is [CLS] a sentence [SEP]); "word " 600
// times is 602 tokens.
func TestMiniLMTokenCounts(t *testing.T) {
	m, tok := loadMiniLMText(t)
	long := strings.Repeat("word ", 600)
	embedIn := func(pass int) func([]string, Options) (model.Embeddings, error) {
		enc := cpuEncoder(t, m, pass) // the encoder's MaxTokens
		return func(texts []string, opts Options) (model.Embeddings, error) {
			return m.EmbedTexts(enc, tok, texts, opts)
		}
	}
	archtest.CheckTokenCounts(t, embedIn(512), []archtest.TokenCount{
		{Name: "one text", Texts: []string{"Once upon a time"}, Want: []int{6}},
		{Name: "several texts", Texts: []string{"a sentence", "Hello world", "The quick brown fox jumps over the lazy dog."}, Want: []int{4, 4, 12}},
		{Name: "one cut to the context", Texts: []string{"Hello world", long}, Truncate: true, Want: []int{4, 512}},
	})
	archtest.CheckTokenCounts(t, embedIn(16), []archtest.TokenCount{
		{Name: "one cut to a pass", Texts: []string{long, "Once upon a time"}, Truncate: true, Want: []int{16, 6}},
	})
}

// BenchmarkMiniLMBatch32 embeds benchdata.Sentences, tokenized by the
// model's tokenizer beforehand, in one Embed call (one pass) per
// operation.
func BenchmarkMiniLMBatch32(b *testing.B) {
	for _, x := range executors[1:] {
		b.Run(x.name, func(b *testing.B) { benchMiniLM(b, x) })
	}
}

func benchMiniLM(b *testing.B, x executor) {
	m, tok := loadMiniLMText(b)
	batch := make([][]int32, len(benchdata.Sentences))
	tokens := 0
	for i, s := range benchdata.Sentences {
		var err error
		if batch[i], err = tok.Encode(s, true, false); err != nil {
			b.Fatal(err)
		}
		tokens += len(batch[i])
	}
	enc := x.open(b, m, tokens)
	if _, err := m.Embed(enc, batch, Options{}); err != nil { // warm up (device pipelines, uploads)
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Embed(enc, batch, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(batch)*b.N)/sec, "embeddings/s")
	b.ReportMetric(float64(tokens*b.N)/sec, "tokens/s")
	b.ReportMetric(float64(tokens)/float64(len(batch)), "tokens/sentence")
}
