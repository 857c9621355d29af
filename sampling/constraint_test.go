package sampling

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// allowSet is a constraint allowing fixed ids; it records what it accepts.
type allowSet struct {
	ids      []int32
	accepted []int32
}

func (a *allowSet) Allowed() []uint64 {
	set := make([]uint64, 1)
	for _, id := range a.ids {
		set[id/64] |= 1 << (id % 64)
	}
	return set
}

func (a *allowSet) Accept(id int32) error { a.accepted = append(a.accepted, id); return nil }
func (a *allowSet) Done() bool            { return len(a.accepted) == 2 }

func TestConstraint(t *testing.T) {
	tests := []struct {
		name  string
		p     Params
		allow []int32
		want  []int32 // candidates
	}{
		{"greedy takes the best allowed", Greedy(), []int32{2, 4}, []int32{2}},
		{"tempered keeps only allowed", Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}, []int32{4, 1}, []int32{1, 4}},
		{"top-k over allowed", Params{Temperature: 1, TopK: 3, TopP: 1, RepeatPenalty: 1}, []int32{3, 4}, []int32{3, 4}},
		{"penalties then mask", Params{Temperature: 0, TopP: 1, RepeatPenalty: 100, RepeatLastN: -1}, []int32{0, 2}, []int32{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			s.Accept(0) // history for the penalty row
			c := &allowSet{ids: tc.allow}
			s.Constrain(c)
			if s.NeedsLogits() {
				t.Error("a constraint alone needs no logits on the host")
			}
			if got := ids(s.Candidates(pow2)); !slices.Equal(got, tc.want) {
				t.Errorf("candidates %v, want %v", got, tc.want)
			}
			id := s.Sample(pow2)
			if !slices.Contains(tc.want, id) || !slices.Equal(c.accepted, []int32{id}) {
				t.Errorf("drew %d, constraint accepted %v", id, c.accepted)
			}
			s.Sample(pow2)
			if !s.Done() {
				t.Error("Done does not follow the constraint")
			}
		})
	}
}

func TestConstraintAllowsNothing(t *testing.T) {
	s, _ := New(Greedy())
	s.Constrain(&allowSet{})
	if id := s.Sample(pow2); id != -1 || !errors.Is(s.Err(), ErrNoToken) {
		t.Errorf("Sample = %d, err %v; want -1 and ErrNoToken", id, s.Err())
	}
	if len(s.Candidates(pow2)) != 0 {
		t.Error("candidates when nothing is allowed")
	}
}

func TestLogprobs(t *testing.T) {
	ln := func(x float64) float32 { return float32(math.Log(x)) }
	tests := []struct {
		name  string
		p     Params
		top   int
		allow []int32
		want  TokenLogprob
	}{
		{"greedy top 3", Greedy(), 3, nil,
			TokenLogprob{Logprob{0, ln(0.5)}, []Logprob{{0, ln(0.5)}, {1, ln(0.25)}, {2, ln(0.125)}}}},
		{"ties by id", Greedy(), 5, nil,
			TokenLogprob{Logprob{0, ln(0.5)}, []Logprob{{0, ln(0.5)}, {1, ln(0.25)}, {2, ln(0.125)}, {3, ln(0.0625)}, {4, ln(0.0625)}}}},
		{"only the drawn token", Greedy(), 0, nil, TokenLogprob{Logprob{0, ln(0.5)}, []Logprob{}}},
		// Before temperature: T=0.25 changes the draw, not the logprobs.
		{"temperature does not apply", Params{Temperature: 0.25, TopK: 1, TopP: 1, RepeatPenalty: 1}, 2, nil,
			TokenLogprob{Logprob{0, ln(0.5)}, []Logprob{{0, ln(0.5)}, {1, ln(0.25)}}}},
		// Over the allowed tokens: 0.125 and 0.0625 renormalise to 2/3, 1/3.
		{"masked", Greedy(), 20, []int32{2, 4},
			TokenLogprob{Logprob{2, ln(2.0 / 3)}, []Logprob{{2, ln(2.0 / 3)}, {4, ln(1.0 / 3)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := New(tc.p)
			if err := s.WantLogprobs(tc.top); err != nil {
				t.Fatal(err)
			}
			if tc.allow != nil {
				s.Constrain(&allowSet{ids: tc.allow})
			}
			s.Sample(pow2)
			got := s.Logprob()
			near := func(a, b Logprob) bool { return a.ID == b.ID && math.Abs(float64(a.Logprob-b.Logprob)) < 1e-6 }
			ok := near(got.Logprob, tc.want.Logprob) && len(got.Top) == len(tc.want.Top)
			for i := 0; ok && i < len(got.Top); i++ {
				ok = near(got.Top[i], tc.want.Top[i])
			}
			if !ok {
				t.Errorf("logprobs %+v, want %+v", got, tc.want)
			}
		})
	}
	s, _ := New(Greedy())
	if err := s.WantLogprobs(21); !errors.Is(err, ErrInvalid) {
		t.Errorf("top 21: %v, want ErrInvalid", err)
	}
}
