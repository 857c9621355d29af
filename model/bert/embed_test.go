package bert

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// wordTokenizer maps space-separated words to ids for the synthetic model
// and records the flags it was called with.
type wordTokenizer struct {
	ids                      map[string]int32
	addSpecial, parseSpecial bool
}

var errUnknownWord = errors.New("unknown word")

func (w *wordTokenizer) Encode(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	w.addSpecial, w.parseSpecial = addSpecial, parseSpecial
	var out []int32
	if addSpecial {
		out = append(out, 1)
	}
	for _, word := range strings.Fields(text) {
		id, ok := w.ids[word]
		if !ok {
			return nil, fmt.Errorf("%w %q", errUnknownWord, word)
		}
		out = append(out, id)
	}
	if addSpecial {
		out = append(out, synthSep)
	}
	return out, nil
}

func TestEmbedTexts(t *testing.T) {
	m := newSynth(9).load(t)
	enc := cpuEncoder(t, m, 64)
	tok := &wordTokenizer{ids: map[string]int32{"red": 5, "green": 9, "blue": 13}}
	got, err := m.EmbedTexts(enc, tok, []string{"red green", "blue"}, Options{ParseSpecial: true, Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.addSpecial || !tok.parseSpecial {
		t.Errorf("tokenizer called with addSpecial=%v parseSpecial=%v, want true, true", tok.addSpecial, tok.parseSpecial)
	}
	want, err := m.Embed(enc, [][]int32{{1, 5, 9, synthSep}, {1, 13, synthSep}}, Options{Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if d := maxAbsDiff(t, got.Vectors[i], want[i]); d != 0 {
			t.Errorf("text %d: differs from Embed of its ids by %.3g", i, d)
		}
	}
	if !slices.Equal(got.Tokens, []int{4, 3}) {
		t.Errorf("token counts %v, want [4 3] ([CLS] and [SEP] included)", got.Tokens)
	}

	if _, err := m.EmbedTexts(enc, tok, nil, Options{}); !errors.Is(err, ErrEmptyInput) {
		t.Errorf("no texts: error %v, want ErrEmptyInput", err)
	}
	_, err = m.EmbedTexts(enc, tok, []string{"red", "purple"}, Options{})
	if !errors.Is(err, errUnknownWord) || !strings.Contains(err.Error(), "text 1") {
		t.Errorf("tokenizer failure: error %v, want errUnknownWord naming text 1", err)
	}
	long := strings.Repeat("red ", synthCtx)
	if _, err := m.EmbedTexts(enc, tok, []string{long}, Options{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("long text: error %v, want ErrTooLong", err)
	}
	if cut, err := m.EmbedTexts(enc, tok, []string{long}, Options{Truncate: true}); err != nil || !slices.Equal(cut.Tokens, []int{synthCtx}) {
		t.Errorf("long text with Truncate: %v tokens, %v; want [%d]", cut.Tokens, err, synthCtx)
	}
}

// TestPasses embeds every input in one pass, in passes of at most a
// context's tokens (28 tokens in three passes), and alone.
func TestPasses(t *testing.T) {
	m := newSynth(2).load(t)
	batch, err := m.Embed(cpuEncoder(t, m, 64), synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	split := &countingEncoder{Encoder: cpuEncoder(t, m, synthCtx)}
	several, err := m.Embed(split, synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if split.passes != 3 {
		t.Errorf("%d passes of up to %d tokens, want 3", split.passes, synthCtx)
	}
	// The CPU executor computes a row the same way whatever else shares
	// its pass, so regrouping the inputs changes nothing.
	for i := range synthInputs {
		if d := maxAbsDiff(t, several[i], batch[i]); d != 0 {
			t.Errorf("input %d: one pass and several passes differ by %.3g", i, d)
		}
	}
	alone := cpuEncoder(t, m, synthCtx)
	for i, ids := range synthInputs {
		one, err := m.Embed(alone, [][]int32{ids}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, batch[i], one[0]); d != 0 {
			t.Errorf("input %d: batch and single differ by %.3g", i, d)
		}
	}
}

// countingEncoder counts the passes it forwards.
type countingEncoder struct {
	Encoder
	passes int
}

func (c *countingEncoder) Forward(seqs [][]int32) ([]float32, []int, error) {
	c.passes++
	return c.Encoder.Forward(seqs)
}

// wideEncoder gives rows one wider than the synthetic model's, as an
// encoder of another model's graph would.
type wideEncoder struct{}

func (wideEncoder) MaxTokens() int { return 64 }
func (wideEncoder) Forward(seqs [][]int32) ([]float32, []int, error) {
	start := make([]int, len(seqs)+1)
	for s, ids := range seqs {
		start[s+1] = start[s] + len(ids)
	}
	return make([]float32, start[len(seqs)]*(synthEmbd+1)), start, nil
}

func TestEmbedErrors(t *testing.T) {
	m := newSynth(3).load(t)
	enc := cpuEncoder(t, m, 64)
	small := cpuEncoder(t, m, 6)
	long := make([]int32, synthCtx+1)
	for i := range long {
		long[i] = 5
	}
	tests := []struct {
		name  string
		enc   Encoder
		batch [][]int32
		opts  Options
		want  error
	}{
		{"no inputs", enc, nil, Options{}, ErrEmptyInput},
		{"empty input", enc, [][]int32{{1, 2}, {}}, Options{}, ErrEmptyInput},
		{"negative id", enc, [][]int32{{1, -1}}, Options{}, ErrTokenRange},
		{"id past vocab", enc, [][]int32{{1, synthVocab}}, Options{}, ErrTokenRange},
		{"too long", enc, [][]int32{{1}, long}, Options{}, ErrTooLong},
		{"too long for a pass", small, [][]int32{{1}, long[:7]}, Options{}, ErrTooLong},
		{"negative dimensions", enc, [][]int32{{1}}, Options{Dimensions: -1}, ErrOption},
		{"dimensions past embedding", enc, [][]int32{{1}}, Options{Dimensions: synthEmbd + 1}, ErrOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Embed(tc.enc, tc.batch, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("Embed: error %v, want %v", err, tc.want)
			}
			if _, err := m.EmbedTokens(tc.enc, tc.batch, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("EmbedTokens: error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := m.Embed(wideEncoder{}, [][]int32{{1, 2}}, Options{}); err == nil || !strings.Contains(err.Error(), "rows of 8") {
		t.Errorf("encoder of rows of %d: error %v, want one naming rows of %d", synthEmbd+1, err, synthEmbd)
	}
	none, err := m.WithPooling(PoolingNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Embed(enc, [][]int32{{1}}, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Embed with pooling none: error %v, want ErrUnsupported", err)
	}
	for _, p := range []PoolingType{PoolingRank, 7, -1} {
		if _, err := m.WithPooling(p); !errors.Is(err, ErrUnsupported) {
			t.Errorf("WithPooling(%s): error %v, want ErrUnsupported", p, err)
		}
	}
}

// TestTruncate checks that a long input is cut to the context, or to one
// pass of a smaller encoder, with its final separator kept, exactly as if
// the caller had cut it.
func TestTruncate(t *testing.T) {
	m := newSynth(4).load(t)
	long := []int32{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	tests := []struct {
		name   string
		tokens int // the encoder's pass
		in     []int32
		cut    []int32
	}{
		{"keeps separator", 64, append(long, synthSep), append(long[:synthCtx-1:synthCtx-1], synthSep)},
		{"no separator", 64, long, long[:synthCtx]},
		{"to the pass", 6, append(long, synthSep), append(long[:5:5], synthSep)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := cpuEncoder(t, m, tc.tokens)
			got, err := m.Embed(enc, [][]int32{tc.in}, Options{Truncate: true})
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Embed(enc, [][]int32{tc.cut}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, got[0], want[0]); d != 0 {
				t.Errorf("truncated input differs from the cut input by %.3g", d)
			}
		})
	}
	if _, err := m.Embed(cpuEncoder(t, m, 64), [][]int32{{1, 3, synthSep}}, Options{Truncate: true}); err != nil {
		t.Errorf("short input with Truncate: %v", err)
	}
}

// TestDimensions checks the Matryoshka cut: the first d components of the
// full vector, re-normalised.
func TestDimensions(t *testing.T) {
	m := newSynth(5).load(t)
	enc := cpuEncoder(t, m, 64)
	full, err := m.Embed(enc, synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{1, 3, synthEmbd} {
		cut, err := m.Embed(enc, synthInputs, Options{Dimensions: d})
		if err != nil {
			t.Fatal(err)
		}
		for i := range synthInputs {
			want := make([]float64, d)
			for j := range want {
				want[j] = float64(full[i][j])
			}
			if len(cut[i]) != d {
				t.Fatalf("dimensions %d: got %d components", d, len(cut[i]))
			}
			if diff := maxAbsDiff(t, cut[i], unit(want)); diff > 1e-6 {
				t.Errorf("dimensions %d input %d: differs from the re-normalised prefix by %.3g", d, i, diff)
			}
		}
	}
}
