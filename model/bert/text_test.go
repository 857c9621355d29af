package bert

import (
	"slices"
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
		c := vecdiff.Cosine(got[i], ref[i])
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
		if d := maxAbsDiff(t, byText[i], byIDs[i]); d != 0 {
			t.Errorf("%q: EmbedTexts and Embed differ by %.3g", texts[i], d)
		}
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
