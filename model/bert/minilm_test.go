package bert

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
)

const miniLMPath = "embed/all-MiniLM-L6-v2-Q4_K_M.gguf"

func openMiniLM(t testing.TB) *gguf.File {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, miniLMPath))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func loadMiniLM(t testing.TB) *Model {
	t.Helper()
	m, err := Load(openMiniLM(t))
	if err != nil {
		t.Fatalf("Load(%s): %v", miniLMPath, err)
	}
	return m
}

// tokenizeCase is one line of the reference tokenize.tsv.
type tokenizeCase struct {
	text     string
	ids      []int32 // with [CLS] ... [SEP]
	idsPlain []int32 // without special tokens
}

func readTokenizeTSV(t testing.TB) []tokenizeCase {
	t.Helper()
	fd, err := os.Open(testmodels.Reference(t, "all-MiniLM-L6-v2/tokenize.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	var cases []tokenizeCase
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 3 {
			t.Fatalf("tokenize.tsv: line %q has %d columns", sc.Text(), len(cols))
		}
		var c tokenizeCase
		for i, dst := range []any{&c.text, &c.ids, &c.idsPlain} {
			if err := json.Unmarshal([]byte(cols[i]), dst); err != nil {
				t.Fatalf("tokenize.tsv: column %d of %q: %v", i, sc.Text(), err)
			}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("tokenize.tsv: no cases")
	}
	return cases
}

// referenceEmbeddings reads llama.cpp's vectors for "a sentence" and
// "Once upon a time", in that order.
func referenceEmbeddings(t testing.TB) [][]float32 {
	t.Helper()
	b, err := os.ReadFile(testmodels.Reference(t, "all-MiniLM-L6-v2/cpu.embedding.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("cpu.embedding.json: %v", err)
	}
	out := make([][]float32, len(doc.Data))
	for _, d := range doc.Data {
		if d.Index < 0 || d.Index >= len(out) || len(d.Embedding) != 384 {
			t.Fatalf("cpu.embedding.json: entry %d with %d values", d.Index, len(d.Embedding))
		}
		out[d.Index] = d.Embedding
	}
	if len(out) != 2 {
		t.Fatalf("cpu.embedding.json: %d vectors, want 2", len(out))
	}
	return out
}

// wordIDs looks each lower-case word up as a whole word-initial token in
// the model's vocabulary (llama.cpp's GGUF conversion writes those with a
// leading U+2581 and strips "##" from continuations) and frames them with
// [CLS] and [SEP]: the WordPiece result for text whose words are all in
// the vocabulary.
func wordIDs(t testing.TB, f *gguf.File, words ...string) []int32 {
	t.Helper()
	vocab, err := gguf.ArrayOf[string](f, "tokenizer.ggml.tokens")
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{101}
	for _, w := range words {
		id := -1
		for i, tok := range vocab {
			if tok == "\u2581"+w {
				id = i
				break
			}
		}
		if id < 0 {
			t.Fatalf("word %q is not a vocabulary token", w)
		}
		ids = append(ids, int32(id))
	}
	if vocab[101] != "[CLS]" || vocab[102] != "[SEP]" {
		t.Fatalf("tokens 101, 102 are %q, %q", vocab[101], vocab[102])
	}
	return append(ids, 102)
}

func TestMiniLMConfig(t *testing.T) {
	m := loadMiniLM(t)
	want := Config{
		Blocks: 6, Embd: 384, FFN: 1536, Heads: 12, HeadDim: 32, NormEps: 1e-12, ContextLength: 512,
		Pooling: PoolingMean, Causal: false, Vocab: 30522, TokenTypes: 2, SepID: 102,
	}
	if m.Config != want {
		t.Errorf("Config = %+v\nwant     %+v", m.Config, want)
	}
	// The type mix listed in shared/models/SOURCES.md.
	counts := map[gguf.Type]int{}
	for _, ts := range m.Tensors() {
		counts[ts.Type]++
	}
	wantCounts := map[gguf.Type]int{gguf.TypeF32: 63, gguf.TypeQ5_0: 28, gguf.TypeQ4_K: 4, gguf.TypeQ8_0: 3, gguf.TypeQ6_K: 2, gguf.TypeF16: 1}
	for typ, n := range wantCounts {
		if counts[typ] != n {
			t.Errorf("%d tensors of type %s, want %d", counts[typ], typ, n)
		}
	}
	if len(m.Tensors()) != 101 {
		t.Errorf("%d tensors, want 101", len(m.Tensors()))
	}
}

// miniLMInputs returns the token ids of "a sentence" and "Once upon a
// time", the texts of llama.cpp's reference vectors.
func miniLMInputs(t testing.TB, f *gguf.File) [][]int32 {
	t.Helper()
	sentence := wordIDs(t, f, "a", "sentence")
	if want := []int32{101, 1037, 6251, 102}; !slices.Equal(sentence, want) {
		t.Fatalf(`"a sentence" ids %v, want %v`, sentence, want)
	}
	for _, c := range readTokenizeTSV(t) {
		if c.text == "Once upon a time" {
			return [][]int32{sentence, c.ids}
		}
	}
	t.Fatal(`tokenize.tsv has no "Once upon a time"`)
	return nil
}

// TestMiniLMReference compares MiniLM's graph on every executor with
// llama.cpp's embeddings of the same token ids, both inputs in one pass.
// All quantize activations as llama.cpp does (Q8_0 blocks with f16
// scales, Q8_K for K-quants) and take GELU from its f16 table; what is
// left is summation order, and the int8 and f16 rounding steps it makes
// a value cross differently. Measured cosines (a sentence, Once upon a
// time): reference 0.999904, 0.999790; cpu 0.999904, 0.999780; vulkan
// 0.999661, 0.999793.
func TestMiniLMReference(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceEmbeddings(t)
	batch := miniLMInputs(t, f)
	bounds := map[string]float64{"reference": 0.9997, "cpu": 0.9997, "vulkan": 0.9996}
	for _, x := range executors {
		t.Run(x.name, func(t *testing.T) {
			got, err := m.Embed(x.open(t, m, 64), batch, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"a sentence", "Once upon a time"} {
				c := vecdiff.Cosine(got[i], ref[i])
				t.Logf("%q: cosine to llama.cpp %.6f", name, c)
				if c < bounds[x.name] {
					t.Errorf("%q: cosine %.6f < %g", name, c, bounds[x.name])
				}
				if n := vecdiff.Cosine(got[i], got[i]); math.Abs(n-1) > 1e-6 {
					t.Errorf("%q: not unit length", name)
				}
			}
			if c := vecdiff.Cosine(got[0], ref[1]); c > 0.9 {
				t.Errorf("different texts have cosine %.4f to each other's reference", c)
			}
		})
	}
}

// tsvBatch returns the ids of every tokenize.tsv input.
func tsvBatch(t testing.TB) [][]int32 {
	t.Helper()
	cases := readTokenizeTSV(t)
	batch := make([][]int32, len(cases))
	for i, c := range cases {
		batch[i] = c.ids
	}
	return batch
}

// TestMiniLMBatchEqualsSingles embeds all tokenize.tsv inputs in one
// pass, in several passes of a 16-token encoder, and one by one, on the
// CPU and the device.
func TestMiniLMBatchEqualsSingles(t *testing.T) {
	m := loadMiniLM(t)
	batch := tsvBatch(t)
	for _, x := range executors[1:] {
		t.Run(x.name, func(t *testing.T) {
			all, err := m.Embed(x.open(t, m, 512), batch, Options{})
			if err != nil {
				t.Fatal(err)
			}
			small := &countingEncoder{Encoder: x.open(t, m, 16)}
			split, err := m.Embed(small, batch, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d inputs in %d passes of up to 16 tokens", len(batch), small.passes)
			if small.passes < 3 {
				t.Errorf("%d passes, want several", small.passes)
			}
			var worst float64
			for i, ids := range batch {
				one, err := m.Embed(small, [][]int32{ids}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, maxAbsDiff(t, one[0], all[i]), maxAbsDiff(t, split[i], all[i]))
			}
			// A row's result does not depend on what else shares its
			// pass on either executor.
			t.Logf("largest difference to the one-pass batch %.3g", worst)
			if worst != 0 {
				t.Errorf("batch, passes and singles differ by %.3g", worst)
			}
		})
	}
}

func TestMiniLMOptions(t *testing.T) {
	f := openMiniLM(t)
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	enc := cpuEncoder(t, m, 1024)
	ref := referenceEmbeddings(t)
	ids := wordIDs(t, f, "a", "sentence")

	// A Matryoshka cut of 128: the reference's prefix, re-normalised.
	got, err := m.Embed(enc, [][]int32{ids}, Options{Dimensions: 128})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 128 {
		t.Fatalf("Dimensions 128: %d components", len(got[0]))
	}
	c := vecdiff.Cosine(got[0], ref[0][:128])
	t.Logf("Dimensions 128: cosine to the reference prefix %.6f", c)
	if c < 0.9997 {
		t.Errorf("Dimensions 128: cosine %.6f to the reference prefix", c)
	}

	long := make([]int32, 0, 600)
	long = append(long, 101)
	for len(long) < 599 {
		long = append(long, 6251)
	}
	long = append(long, 102)
	if _, err := m.Embed(enc, [][]int32{ids, long}, Options{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("600 tokens: error %v, want ErrTooLong", err)
	}
	// Cut to the context of 512 with [SEP] kept: as if the caller had.
	cut, err := m.Embed(enc, [][]int32{long}, Options{Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Embed(enc, [][]int32{append(long[:511:511], 102)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, cut[0], want[0]); d != 0 {
		t.Errorf("600 tokens truncated: differ from the cut input by %.3g", d)
	}
	if _, err := m.Embed(enc, [][]int32{{101, 30522, 102}}, Options{}); !errors.Is(err, ErrTokenRange) {
		t.Errorf("id 30522: error %v, want ErrTokenRange", err)
	}
	if _, err := m.Embed(enc, nil, Options{}); !errors.Is(err, ErrEmptyInput) {
		t.Errorf("no inputs: error %v, want ErrEmptyInput", err)
	}
}
