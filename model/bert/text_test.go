package bert

import (
	"testing"

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

	ref := referenceEmbeddings(t)
	got, err := m.EmbedTexts(tok, []string{"a sentence", "Once upon a time"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a sentence", "Once upon a time"} {
		c := cosine(got[i], ref[i])
		t.Logf("%q via the tokenizer: cosine to llama.cpp %.6f", name, c)
		if c < 0.999 {
			t.Errorf("%q: cosine %.6f < 0.999", name, c)
		}
	}

	// Every reference text: the tokenizer's ids are llama.cpp's, so the
	// text-level result equals the id-level one exactly.
	cases := readTokenizeTSV(t)
	texts := make([]string, len(cases))
	ids := make([][]int32, len(cases))
	for i, c := range cases {
		texts[i], ids[i] = c.text, c.ids
		enc, err := tok.Encode(c.text, true, false)
		if err != nil {
			t.Fatalf("Encode(%q): %v", c.text, err)
		}
		if !equalIDs(enc, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, enc, c.ids)
		}
	}
	byText, err := m.EmbedTexts(tok, texts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byIDs, err := m.Embed(ids, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if d := maxAbsDiff(t, byText[i], byIDs[i]); d != 0 {
			t.Errorf("%q: EmbedTexts and Embed differ by %.3g", texts[i], d)
		}
	}
}

// benchSentences are 32 ordinary sentences of 5 to 20 words.
var benchSentences = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Once upon a time there was a little girl named Lily.",
	"She loved to play outside in the sunshine with her friends.",
	"Embeddings map text to vectors so similar meanings land close together.",
	"The weather forecast says it will rain tomorrow afternoon.",
	"Please remember to buy milk, eggs and bread on the way home.",
	"A good night's sleep improves memory and concentration.",
	"The train to the city leaves every twenty minutes.",
	"He fixed the bicycle with a wrench and some patience.",
	"Our team meeting has been moved to Thursday at ten.",
	"The museum opens a new exhibition about ancient maps next week.",
	"Water boils at one hundred degrees Celsius at sea level.",
	"She wrote a letter to her grandmother every Sunday.",
	"The library is quiet in the early morning.",
	"Add two cups of flour and stir until the batter is smooth.",
	"The cat slept on the warm windowsill all afternoon.",
	"Solar panels turn sunlight into electricity.",
	"They hiked to the top of the hill to watch the sunset.",
	"The software update fixes several security problems.",
	"A small boat drifted slowly across the calm lake.",
	"Reading every day builds a larger vocabulary.",
	"The children laughed as the puppy chased its tail.",
	"Traffic was heavy because of the accident on the bridge.",
	"The recipe calls for fresh basil and ripe tomatoes.",
	"Astronomers discovered a planet orbiting a distant star.",
	"He forgot his umbrella and got soaked in the storm.",
	"The store closes early on public holidays.",
	"Learning a new language takes time and practice.",
	"The garden was full of roses, tulips and daisies.",
	"She scored the winning goal in the final minute.",
	"The old clock in the hall still keeps perfect time.",
	"Fresh coffee smells wonderful in the morning.",
}

// BenchmarkMiniLMBatch32 embeds benchSentences, tokenized by the model's
// tokenizer beforehand, in one Embed call per operation.
func BenchmarkMiniLMBatch32(b *testing.B) {
	b.Run("cpu", func(b *testing.B) {
		benchMiniLM(b, func(m *Model) func([][]int32) error {
			return func(batch [][]int32) error { _, err := m.Embed(batch, Options{}); return err }
		})
	})
	b.Run("vulkan", func(b *testing.B) {
		benchMiniLM(b, func(m *Model) func([][]int32) error {
			e := vulkanEncoder(b, m)
			return func(batch [][]int32) error { _, err := e.Embed(batch, Options{}); return err }
		})
	})
}

func benchMiniLM(b *testing.B, open func(*Model) func([][]int32) error) {
	f := openMiniLM(b)
	m, err := Load(f)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([][]int32, len(benchSentences))
	tokens := 0
	for i, s := range benchSentences {
		if batch[i], err = tok.Encode(s, true, false); err != nil {
			b.Fatal(err)
		}
		tokens += len(batch[i])
	}
	embed := open(m)
	if err := embed(batch); err != nil { // warm up (device pipelines)
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := embed(batch); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(batch)*b.N)/sec, "embeddings/s")
	b.ReportMetric(float64(tokens*b.N)/sec, "tokens/s")
	b.ReportMetric(float64(tokens)/float64(len(batch)), "tokens/sentence")
}
