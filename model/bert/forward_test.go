package bert

import (
	"errors"
	"math"
	"testing"
)

// synthInputs are token id sequences of different lengths for the
// synthetic model; the last one fills the context.
var synthInputs = [][]int32{
	{1, 5, 9, synthSep},
	{1, 7, synthSep},
	{1, 3, 4, 11, 29, 17, 8, synthSep},
	{1},
	{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, synthSep},
}

// unit returns v divided by its L2 norm, as float32.
func unit(v []float64) []float32 {
	var sq float64
	for _, x := range v {
		sq += x * x
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x / math.Sqrt(sq))
	}
	return out
}

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	var d float64
	for i := range got {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
	}
	return d
}

// TestForwardMatchesFloat64 checks the packed, masked f32 forward with
// every pooling type, bidirectional and causal, against a float64 forward
// of each sequence on its own.
func TestForwardMatchesFloat64(t *testing.T) {
	// GELU rounds its input to f16 (as llama.cpp does): where the f32 and
	// float64 passes land on either side of an f16 rounding boundary, an
	// element moves by one f16 step, up to about 1e-4 after the norms.
	const tol = 1e-4
	for _, causal := range []bool{false, true} {
		s := newSynth(1)
		s.meta["bert.attention.causal"] = causal
		base := s.load(t)
		for _, p := range []PoolingType{PoolingMean, PoolingCLS, PoolingLast} {
			m, err := base.WithPooling(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Embed(synthInputs, Options{})
			if err != nil {
				t.Fatalf("causal=%v %s: %v", causal, p, err)
			}
			for i, ids := range synthInputs {
				h := s.referenceHidden(ids, causal)
				var want []float64
				switch p {
				case PoolingMean:
					want = make([]float64, synthEmbd)
					for _, r := range h {
						for j := range r {
							want[j] += r[j] / float64(len(h))
						}
					}
				case PoolingCLS:
					want = h[0]
				case PoolingLast:
					want = h[len(h)-1]
				}
				if d := maxAbsDiff(t, got[i], unit(want)); d > tol {
					t.Errorf("causal=%v %s input %d: max abs diff %.3g > %g", causal, p, i, d, tol)
				}
			}
		}
		toks, err := base.EmbedTokens(synthInputs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, ids := range synthInputs {
			h := s.referenceHidden(ids, causal)
			if len(toks[i]) != len(ids) {
				t.Fatalf("input %d: %d token vectors, want %d", i, len(toks[i]), len(ids))
			}
			for j := range h {
				if d := maxAbsDiff(t, toks[i][j], unit(h[j])); d > tol {
					t.Errorf("causal=%v tokens input %d token %d: max abs diff %.3g", causal, i, j, d)
				}
			}
		}
	}
}

// TestSynthBatchEqualsSingles runs every input alone, in one batch, and
// in a batch split over several forward passes.
func TestSynthBatchEqualsSingles(t *testing.T) {
	m := newSynth(2).load(t)
	batch, err := m.Embed(synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { maxForwardTokens = n }(maxForwardTokens)
	maxForwardTokens = 10
	split, err := m.Embed(synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range synthInputs {
		if d := maxAbsDiff(t, split[i], batch[i]); d != 0 {
			t.Errorf("input %d: one pass and several passes differ by %.3g", i, d)
		}
	}
	for i, ids := range synthInputs {
		one, err := m.Embed([][]int32{ids}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, batch[i], one[0]); d > 1e-5 {
			t.Errorf("input %d: batch and single differ by %.3g", i, d)
		}
	}
}

func TestEmbedErrors(t *testing.T) {
	m := newSynth(3).load(t)
	long := make([]int32, synthCtx+1)
	for i := range long {
		long[i] = 5
	}
	tests := []struct {
		name  string
		batch [][]int32
		opts  Options
		want  error
	}{
		{"no inputs", nil, Options{}, ErrEmptyInput},
		{"empty input", [][]int32{{1, 2}, {}}, Options{}, ErrEmptyInput},
		{"negative id", [][]int32{{1, -1}}, Options{}, ErrTokenRange},
		{"id past vocab", [][]int32{{1, synthVocab}}, Options{}, ErrTokenRange},
		{"too long", [][]int32{{1}, long}, Options{}, ErrTooLong},
		{"negative dimensions", [][]int32{{1}}, Options{Dimensions: -1}, ErrOption},
		{"dimensions past embedding", [][]int32{{1}}, Options{Dimensions: synthEmbd + 1}, ErrOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Embed(tc.batch, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("Embed: error %v, want %v", err, tc.want)
			}
			if _, err := m.EmbedTokens(tc.batch, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("EmbedTokens: error %v, want %v", err, tc.want)
			}
		})
	}
	none, err := m.WithPooling(PoolingNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Embed([][]int32{{1}}, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Embed with pooling none: error %v, want ErrUnsupported", err)
	}
	for _, p := range []PoolingType{PoolingRank, 7, -1} {
		if _, err := m.WithPooling(p); !errors.Is(err, ErrUnsupported) {
			t.Errorf("WithPooling(%s): error %v, want ErrUnsupported", p, err)
		}
	}
}

// TestTruncate checks that a long input is cut to the context with its
// final separator kept, exactly as if the caller had cut it.
func TestTruncate(t *testing.T) {
	m := newSynth(4).load(t)
	tests := []struct {
		name string
		in   []int32
		cut  []int32
	}{
		{"keeps separator", []int32{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, synthSep},
			[]int32{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, synthSep}},
		{"no separator", []int32{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int32{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Embed([][]int32{tc.in}, Options{Truncate: true})
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Embed([][]int32{tc.cut}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, got[0], want[0]); d != 0 {
				t.Errorf("truncated input differs from the cut input by %.3g", d)
			}
		})
	}
	in := []int32{1, 3, synthSep}
	if _, err := m.Embed([][]int32{in}, Options{Truncate: true}); err != nil {
		t.Errorf("short input with Truncate: %v", err)
	}
}

// TestDimensions checks the Matryoshka cut: the first d components of the
// full vector, re-normalised.
func TestDimensions(t *testing.T) {
	m := newSynth(5).load(t)
	full, err := m.Embed(synthInputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{1, 3, synthEmbd} {
		cut, err := m.Embed(synthInputs, Options{Dimensions: d})
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
