package llama

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
)

// TestEmbed pools stories260K's hidden states through encoders of
// BuildHidden on compute.Reference, the CPU backend and the Vulkan
// backend: every pooling type against the pooling of compute.Reference's
// rows computed here, to a cosine of 1-1e-6 (measured: 1-2.6e-9 at worst;
// the executors' float32 sums, in their own orders, cross an f16 rounding
// of the keys and values now and then).
func TestEmbed(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	tokens := loadCompletion(t, "stories260K").PromptIDs
	tokens = append(tokens, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 1, 2, 3)
	const ctx = 64
	ref, err := runner.NewEncoder(runner.Config{File: m.File, Build: m.BuildHidden, Vocab: m.Config.VocabSize, Context: ctx},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			return compute.NewReference(c, cells), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	hidden, start, err := ref.Forward([][]int32{tokens})
	if err != nil {
		t.Fatal(err)
	}
	if dim := m.Config.Dim; start[1] != len(tokens) || len(hidden) != len(tokens)*dim {
		t.Fatalf("%d hidden values, rows to %d, for %d tokens of %d", len(hidden), start[1], len(tokens), dim)
	}
	dim := m.Config.Dim
	rows := make([][]float32, len(tokens))
	for i := range rows {
		rows[i] = hidden[i*dim : (i+1)*dim]
	}
	want := map[Pooling][]float32{PoolingFirst: rows[0], PoolingLast: rows[len(rows)-1], PoolingMean: make([]float32, dim)}
	for _, r := range rows {
		for i, v := range r {
			want[PoolingMean][i] += v
		}
	}
	encoders := []struct {
		name string
		enc  model.Encoder
	}{
		{"graph-reference", ref},
		{"cpu", openEncoder(t, m, cpu.Backend{}, ctx)},
		{"vulkan", openEncoder(t, m, vulkan.Backend{K: opstest.Kernels(t)}, ctx)},
	}
	for _, e := range encoders {
		worst := 1.0
		for p, w := range want {
			got, err := model.Pool(e.enc, tokens, p, 0)
			if err != nil {
				t.Fatalf("%s pooling %d: %v", e.name, p, err)
			}
			if math.Abs(vecdiff.Cosine(got, got)-1) > 1e-5 {
				t.Errorf("%s pooling %d: not unit length", e.name, p)
			}
			c := vecdiff.Cosine(got, w)
			worst = min(worst, c)
			if c < 1-1e-6 {
				t.Errorf("%s pooling %d: cosine %.6f to the reference", e.name, p, c)
			}
		}
		t.Logf("%s: lowest cosine to the reference 1-%.2g", e.name, 1-worst)
	}
	if m.Config.Pooling != PoolingMean {
		t.Errorf("pooling %d without pooling_type metadata, want mean", m.Config.Pooling)
	}
	enc := encoders[1].enc
	cut, err := model.Pool(enc, tokens[:5], PoolingMean, 16)
	if err != nil || len(cut) != 16 || math.Abs(vecdiff.Cosine(cut, cut)-1) > 1e-5 {
		t.Errorf("dims 16: %d values, %v", len(cut), err)
	}
	if _, err := model.Pool(enc, nil, PoolingMean, 0); !errors.Is(err, ErrEmbed) {
		t.Errorf("no tokens: %v", err)
	}
	if _, err := model.Pool(enc, make([]int32, ctx+1), PoolingMean, 0); !errors.Is(err, model.ErrContextFull) {
		t.Errorf("%d tokens in a context of %d: %v", ctx+1, ctx, err)
	}
	if _, err := model.Pool(enc, tokens[:3], PoolingMean, 1000); !errors.Is(err, ErrEmbed) {
		t.Errorf("dims 1000: %v", err)
	}
}

// TestEmbedTextsTokenCounts: EmbedTexts, through stories260K's own
// tokenizer on the CPU backend, counts the tokens each text ran as, BOS
// included, and a truncated text as the pass it was cut to. "Once upon a
// time" is llama.cpp's 5 prompt ids; "word " 100 times is 302 tokens.
func TestEmbedTextsTokenCounts(t *testing.T) {
	m := loadModel(t, "llama/stories260K.gguf")
	tok, err := tokenizer.FromGGUF(m.File)
	if err != nil {
		t.Fatal(err)
	}
	enc := openEncoder(t, m, cpu.Backend{}, 16)
	long := strings.Repeat("word ", 100)
	embed := func(texts []string, opts model.EmbedOptions) (model.Embeddings, error) {
		return m.EmbedTexts(enc, tok, texts, opts)
	}
	archtest.CheckTokenCounts(t, embed, []archtest.TokenCount{
		{Name: "one text", Texts: []string{"Once upon a time"}, Want: []int{5}},
		{Name: "several texts", Texts: []string{"Once upon a time", "Lily went to the park"}, Want: []int{5, 9}},
		{Name: "one cut to a pass", Texts: []string{long, "Lily went to the park"}, Truncate: true, Want: []int{16, 9}},
	})
	if _, err := m.EmbedTexts(enc, tok, []string{long}, model.EmbedOptions{}); !errors.Is(err, model.ErrTooLong) {
		t.Errorf("302 tokens in passes of 16 without truncate: %v, want ErrTooLong", err)
	}
}

// openEncoder opens m's file through runner.Open on be, as the daemon
// does, and returns an encoder of passes of up to tokens tokens.
func openEncoder(t testing.TB, m *Model, be runner.Backend, tokens int) model.Encoder {
	t.Helper()
	rm, err := runner.Open(m.File, be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rm.Close)
	enc, _, err := rm.NewEncoder(tokens)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}
