package sampling

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func ids(cs []Candidate) []int32 {
	out := make([]int32, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// logits whose softmax at temperature 1 is exactly 0.5, 0.25, 0.125, 0.0625, 0.0625.
var pow2 = []float32{float32(math.Log(8)), float32(math.Log(4)), float32(math.Log(2)), 0, 0}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name   string
		p      Params
		logits []float32
		want   []int32
	}{
		{"greedy", Greedy(), []float32{1, 3, 2, 3}, []int32{1}},
		{"all", Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}, pow2, []int32{0, 1, 2, 3, 4}},
		{"top-k 2", Params{Temperature: 1, TopK: 2, TopP: 1, RepeatPenalty: 1}, pow2, []int32{0, 1}},
		{"top-k ties by id", Params{Temperature: 1, TopK: 4, TopP: 1, RepeatPenalty: 1}, pow2, []int32{0, 1, 2, 3}},
		{"top-p 0.5 keeps one", Params{Temperature: 1, TopP: 0.5, RepeatPenalty: 1}, pow2, []int32{0}},
		{"top-p 0.6 keeps two", Params{Temperature: 1, TopP: 0.6, RepeatPenalty: 1}, pow2, []int32{0, 1}},
		{"top-p 0.8 keeps three", Params{Temperature: 1, TopP: 0.8, RepeatPenalty: 1}, pow2, []int32{0, 1, 2}},
		{"top-p after top-k renormalises", Params{Temperature: 1, TopK: 2, TopP: 0.7, RepeatPenalty: 1}, pow2, []int32{0, 1}},
		{"min-p 0.25", Params{Temperature: 1, TopP: 1, MinP: 0.25, RepeatPenalty: 1}, pow2, []int32{0, 1, 2}},
		{"min-p 0.3", Params{Temperature: 1, TopP: 1, MinP: 0.3, RepeatPenalty: 1}, pow2, []int32{0, 1}},
		{"min-p with top-k", Params{Temperature: 1, TopK: 3, TopP: 1, MinP: 0.5, RepeatPenalty: 1}, pow2, []int32{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(s.Candidates(tc.logits))
			if !slices.Equal(got, tc.want) {
				t.Errorf("candidates %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTemperatureProbabilities(t *testing.T) {
	s, _ := New(Params{Temperature: 0.5, TopP: 1, RepeatPenalty: 1})
	c := s.Candidates(pow2)
	// At T=0.5 weights square: 64, 16, 4, 1, 1 over 86.
	want := []float64{64.0 / 86, 16.0 / 86, 4.0 / 86, 1.0 / 86, 1.0 / 86}
	for i, w := range want {
		if math.Abs(float64(c[i].P)-w) > 1e-6 {
			t.Errorf("P[%d] = %v, want %v", i, c[i].P, w)
		}
	}
}

func TestPenalties(t *testing.T) {
	s, _ := New(Params{Temperature: 0, TopP: 1, RepeatPenalty: 2, RepeatLastN: 3, PresencePenalty: 0.5, FrequencyPenalty: 0.25})
	s.Accept(9, 0, 1, 1) // 9 falls out of the window of 3
	got := s.Penalise([]float32{4, -1, 3})
	want := []float32{4.0/2 - 0.25 - 0.5, -1*2 - 0.5 - 0.5, 3}
	if !slices.Equal(got, want) {
		t.Errorf("penalised %v, want %v", got, want)
	}
	if !slices.Equal(s.History(), []int32{0, 1, 1}) {
		t.Errorf("history %v", s.History())
	}
}

func TestSampleDistribution(t *testing.T) {
	s, _ := New(Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: 42})
	const draws = 8000
	counts := make([]int, len(pow2))
	for i := 0; i < draws; i++ {
		counts[s.Sample(pow2)]++
	}
	probs := []float64{0.5, 0.25, 0.125, 0.0625, 0.0625}
	var chi2 float64
	for i, p := range probs {
		e := p * draws
		chi2 += (float64(counts[i]) - e) * (float64(counts[i]) - e) / e
	}
	// 4 degrees of freedom: P(chi2 > 18.47) = 0.001.
	if chi2 > 18.47 {
		t.Errorf("chi-square %.2f over counts %v", chi2, counts)
	}
	if s.Step() != draws {
		t.Errorf("step %d, want %d", s.Step(), draws)
	}
}

func TestSeededReproducible(t *testing.T) {
	run := func(seed uint64) []int32 {
		s, _ := New(Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: seed})
		var out []int32
		for i := 0; i < 64; i++ {
			out = append(out, s.Sample(pow2))
		}
		return out
	}
	if !slices.Equal(run(7), run(7)) {
		t.Error("same seed gave different tokens")
	}
	if slices.Equal(run(7), run(8)) {
		t.Error("different seeds gave the same 64 tokens")
	}
}

func TestUniformRange(t *testing.T) {
	var sum float64
	for i := uint64(0); i < 100000; i++ {
		u := Uniform(3, i)
		if u < 0 || u >= 1 {
			t.Fatalf("Uniform(3,%d) = %v out of [0,1)", i, u)
		}
		sum += float64(u)
	}
	if mean := sum / 100000; math.Abs(mean-0.5) > 0.005 {
		t.Errorf("mean %v, want 0.5", mean)
	}
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	bad := []Params{
		{Temperature: -1, TopP: 1, RepeatPenalty: 1},
		{Temperature: nan, TopP: 1, RepeatPenalty: 1},
		{TopK: -1, TopP: 1, RepeatPenalty: 1},
		{TopP: 0, RepeatPenalty: 1},
		{TopP: 1.5, RepeatPenalty: 1},
		{TopP: 1, MinP: 2, RepeatPenalty: 1},
		{TopP: 1, RepeatPenalty: 0},
		{TopP: 1, RepeatPenalty: 1, RepeatLastN: -2},
		{TopP: 1, RepeatPenalty: 1, PresencePenalty: float32(math.Inf(1))},
		{TopP: 1, RepeatPenalty: 1, FrequencyPenalty: nan},
	}
	for i, p := range bad {
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: Validate(%+v) = %v, want ErrInvalid", i, p, err)
		}
	}
	for _, p := range []Params{Greedy(), Defaults()} {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
}

func TestSampleNoAllocWarm(t *testing.T) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	p := Defaults()
	p.RepeatPenalty = 1.1 // the penalty path too
	s, _ := New(p)
	s.Accept(1, 2, 3)
	s.Sample(logits)
	if a := testing.AllocsPerRun(20, func() { s.Sample(logits) }); a > 0 {
		t.Errorf("warm Sample allocates %v times", a)
	}
}

func BenchmarkSample32k(b *testing.B) {
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i) * 0.37))
	}
	for _, tc := range []struct {
		name string
		p    Params
	}{{"greedy", Greedy()}, {"defaults", Defaults()}, {"top-p-only", Params{Temperature: 1, TopP: 0.9, RepeatPenalty: 1}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := New(tc.p)
			for i := 0; i < b.N; i++ {
				s.Sample(logits)
			}
		})
	}
}

// bruteCandidates applies steps 3-5 of the chain literally: full sort, then
// each filter in turn.
func bruteCandidates(l []float32, p Params) []int32 {
	all := make([]Candidate, len(l))
	for i, x := range l {
		all[i] = Candidate{ID: int32(i), Logit: x}
	}
	slices.SortFunc(all, byLogitThenID)
	if p.TopK > 0 && p.TopK < len(all) {
		all = all[:p.TopK]
	}
	top := all[0].Logit
	var z float64
	for _, c := range all {
		z += math.Exp(float64(c.Logit - top))
	}
	if p.TopP < 1 {
		var cum float64
		for i, c := range all {
			cum += math.Exp(float64(c.Logit-top)) / z
			if cum >= float64(p.TopP) {
				all = all[:i+1]
				break
			}
		}
	}
	if p.MinP > 0 {
		n := 0
		for n < len(all) && math.Exp(float64(all[n].Logit-top)) >= float64(p.MinP) {
			n++
		}
		all = all[:max(n, 1)]
	}
	return ids(all)
}

func TestCandidatesMatchBruteForce(t *testing.T) {
	// Peaky logits like a real model's: a few strong tokens over a long tail.
	l := make([]float32, 5000)
	for i := range l {
		l[i] = float32(math.Sin(float64(i)*12.9898)*43758.5453) - float32(math.Floor(math.Sin(float64(i)*12.9898)*43758.5453))
		l[i] = l[i]*4 - 2
	}
	for i := 0; i < 12; i++ {
		l[i*397%5000] = 9 - float32(i)*0.4
	}
	// The same logits in steps of 0.5: ties everywhere, across the tokens
	// topK heaps one by one and those it filters, and some masked.
	tied := make([]float32, len(l))
	for i, x := range l {
		tied[i] = float32(math.Round(float64(x)*2)) / 2
		if i%11 == 0 {
			tied[i] = float32(math.Inf(-1))
		}
	}
	for _, p := range []Params{
		{Temperature: 1, TopK: 40, TopP: 1, RepeatPenalty: 1},
		{Temperature: 1, TopK: 2500, TopP: 1, RepeatPenalty: 1},
		{Temperature: 1, TopK: 4500, TopP: 1, RepeatPenalty: 1},
	} {
		s, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(s.Candidates(tied)), bruteCandidates(tied, p); !slices.Equal(got, want) {
			t.Errorf("tied logits, %+v: got %d candidates %v..., want %d %v...", p, len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
		}
	}
	for _, p := range []Params{
		{Temperature: 1, TopP: 0.9, RepeatPenalty: 1},
		{Temperature: 1, TopP: 0.99, RepeatPenalty: 1},
		{Temperature: 1, TopP: 0.999999, RepeatPenalty: 1},
		{Temperature: 1, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1},
		{Temperature: 1, TopP: 1, MinP: 0.01, RepeatPenalty: 1},
		{Temperature: 1, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1},
		{Temperature: 1, TopK: 3000, TopP: 0.97, RepeatPenalty: 1},
	} {
		s, _ := New(p)
		got := ids(s.Candidates(l))
		want := bruteCandidates(l, p)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: got %d candidates %v..., want %d %v...", p, len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
		}
	}
}
