package bert

import (
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/internal/benchdata"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// TestMiniLMTexts embeds text through the model's own WordPiece tokenizer
// (package model/tokenizer) and compares with llama.cpp.
func TestMiniLMTexts(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
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
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("word ", 600)
	for _, tc := range []struct {
		name     string
		pass     int // the encoder's MaxTokens
		texts    []string
		truncate bool
		want     []int
	}{
		{"one text", 512, []string{"Once upon a time"}, false, []int{6}},
		{"several texts", 512, []string{"a sentence", "Hello world", "The quick brown fox jumps over the lazy dog."}, false, []int{4, 4, 12}},
		{"one cut to the context", 512, []string{"Hello world", long}, true, []int{4, 512}},
		{"one cut to a pass", 16, []string{long, "Once upon a time"}, true, []int{16, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.EmbedTexts(cpuEncoder(t, m, tc.pass), tok, tc.texts, Options{Truncate: tc.truncate})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, n := range tc.want {
				total += n
			}
			if !slices.Equal(got.Tokens, tc.want) || got.TotalTokens() != total || len(got.Vectors) != len(tc.texts) {
				t.Errorf("%d vectors, tokens %v (total %d); want %d vectors, tokens %v (total %d)",
					len(got.Vectors), got.Tokens, got.TotalTokens(), len(tc.texts), tc.want, total)
			}
		})
	}
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
	f := openMiniLM(b)
	m, err := Load(f)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([][]int32, len(benchdata.Sentences))
	tokens := 0
	for i, s := range benchdata.Sentences {
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
