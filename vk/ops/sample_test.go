package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
)

// sampleOnDevice records one draw of smp over logits and returns it.
func sampleOnDevice(t *testing.T, h *harness, smp *sampling.Sampler, logits []float32, cands bool) (*Sampler, SampleResult) {
	t.Helper()
	lb := h.floats(logits)
	ds, err := h.k.NewSampler(h.sets, lb.All(), len(logits), 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	h.run(func(s *vk.Step) {
		if err := ds.Record(s, smp, cands); err != nil {
			t.Fatal(err)
		}
	})
	return ds, ds.Result()
}

// Candidate probabilities are f32 on the device and f64 on the CPU.
const probTol = 2e-5

func TestSampleCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	spread := func(n int, scale float32) []float32 { return randFloats(r, n, scale) }
	ties := make([]float32, 300)
	for i := range ties {
		ties[i] = float32(i%7) - 3 // many equal logits: order by id decides
	}
	flat := make([]float32, 50)
	for i := range flat {
		flat[i] = 1
	}
	hist := []int32{5, 5, 9, 100, 7, 5, 2999}
	tests := []struct {
		name   string
		logits []float32
		p      sampling.Params
		hist   []int32
		allow  []int32 // a constraint's allowed tokens; nil: none
	}{
		{"greedy", spread(1000, 5), sampling.Greedy(), nil, nil},
		{"greedy ties pick lowest id", ties, sampling.Greedy(), nil, nil},
		{"defaults", spread(3000, 6), sampling.Defaults(), hist, nil},
		{"top-k only", spread(5000, 4), sampling.Params{Temperature: 1, TopK: 10, TopP: 1, RepeatPenalty: 1}, nil, nil},
		{"top-k 1", spread(500, 4), sampling.Params{Temperature: 1, TopK: 1, TopP: 1, RepeatPenalty: 1}, nil, nil},
		{"top-k with ties", ties, sampling.Params{Temperature: 0.7, TopK: 50, TopP: 1, RepeatPenalty: 1}, nil, nil},
		{"top-p only", spread(2000, 8), sampling.Params{Temperature: 1.3, TopP: 0.5, RepeatPenalty: 1}, nil, nil},
		{"min-p only", spread(2000, 8), sampling.Params{Temperature: 1, TopP: 1, MinP: 0.1, RepeatPenalty: 1}, nil, nil},
		{"top-k top-p min-p", spread(32000, 10), sampling.Params{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1}, nil, nil},
		{"top-k above the device bound", spread(4000, 12), sampling.Params{Temperature: 1, TopK: 2000, TopP: 0.8, RepeatPenalty: 1}, nil, nil},
		{"penalties", spread(700, 3), sampling.Params{Temperature: 1, TopK: 20, TopP: 1, RepeatPenalty: 1.5, RepeatLastN: -1, PresencePenalty: 0.3, FrequencyPenalty: 0.2}, []int32{1, 2, 2, 3, 3, 3, 650, 699}, nil},
		{"flat", flat, sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}, nil, nil},
		{"vocab not a multiple of 256", spread(1001, 2), sampling.Params{Temperature: 2, TopK: 100, TopP: 0.95, RepeatPenalty: 1}, nil, nil},
		{"mask greedy", spread(3000, 6), sampling.Greedy(), nil, every(3000, 7)},
		{"mask tempered, all allowed are candidates", spread(32000, 10), sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}, nil, every(32000, 64)},
		{"mask leaves fewer than top-k", spread(2000, 4), sampling.Params{Temperature: 0.7, TopK: 40, TopP: 1, RepeatPenalty: 1}, nil, every(2000, 211)},
		{"mask after penalties", spread(700, 3), sampling.Params{Temperature: 1, TopK: 20, TopP: 0.9, RepeatPenalty: 1.5, RepeatLastN: -1, PresencePenalty: 0.3}, []int32{1, 2, 2, 3, 650}, every(700, 3)},
		{"mask one token", spread(5000, 3), sampling.Defaults(), nil, []int32{4321}},
		{"mask past a partial word", spread(1001, 2), sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1}, nil, []int32{999, 1000}},
	}
	// Both reduction paths: subgroups, and the shared-memory tree.
	for _, sub := range []bool{true, false} {
		h := newHarness(t, 64, sub)
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/subgroups=%v", tc.name, sub), func(t *testing.T) {
				tc.p.Seed = 7
				cpu, err := sampling.New(tc.p)
				if err != nil {
					t.Fatal(err)
				}
				dev, _ := sampling.New(tc.p)
				cpu.Accept(tc.hist...)
				dev.Accept(tc.hist...)
				if tc.allow != nil {
					cpu.Constrain(fixedSet(tc.allow))
					dev.Constrain(fixedSet(tc.allow))
				}
				ds, res := sampleOnDevice(t, h, dev, tc.logits, true)
				if res.Overflow {
					t.Fatalf("overflow on a set the device can hold")
				}
				want := cpu.Candidates(tc.logits)
				got := ds.Candidates()
				if len(got) != len(want) {
					t.Fatalf("%d candidates, want %d", len(got), len(want))
				}
				for i := range want {
					if got[i].ID != want[i].ID || math.Abs(float64(got[i].P-want[i].P)) > probTol {
						t.Fatalf("candidate %d = %d (P %v), want %d (P %v)", i, got[i].ID, got[i].P, want[i].ID, want[i].P)
					}
				}
				wantID := cpu.Sample(tc.logits)
				if res.ID != wantID {
					t.Fatalf("drew %d, CPU drew %d", res.ID, wantID)
				}
				if res.Drew != (len(want) > 1) {
					t.Fatalf("drew a uniform: %v with %d candidates", res.Drew, len(want))
				}
			})
		}
	}
}

// fixedSet is a constraint that always allows the same tokens.
type fixedSet []int32

func (f fixedSet) Allowed() []uint64 {
	set := make([]uint64, 1+slices.Max(f)/64)
	for _, id := range f {
		set[id/64] |= 1 << (id % 64)
	}
	return set
}

func (fixedSet) Accept(int32) error { return nil }
func (fixedSet) Done() bool         { return false }

// every returns 0, step, 2*step, ... below n.
func every(n, step int) []int32 {
	var out []int32
	for i := 0; i < n; i += step {
		out = append(out, int32(i))
	}
	return out
}

func TestSampleOverflow(t *testing.T) {
	h := newHarness(t, 64, true)
	r := rand.New(rand.NewPCG(23, 24))
	logits := randFloats(r, 5000, 0.1) // nearly flat: top-p 0.99 needs most of them
	smp, _ := sampling.New(sampling.Params{Temperature: 1, TopP: 0.99, RepeatPenalty: 1})
	if _, res := sampleOnDevice(t, h, smp, logits, false); !res.Overflow {
		t.Fatal("no overflow when top-p needs ~4950 candidates")
	}
}

// TestSampleDistribution checks seeded draws against the probabilities:
// each draw equals the CPU's for the same step, and a chi-square test
// over 3000 draws holds at p = 0.001.
func TestSampleDistribution(t *testing.T) {
	h := newHarness(t, 64, true)
	logits := []float32{2, 1.5, 1, 0.2, -1, -3, -4}
	prm := sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: 12345}
	cpu, _ := sampling.New(prm)
	probs := cpu.Candidates(logits)
	lb := h.floats(logits)
	ds, err := h.k.NewSampler(h.sets, lb.All(), len(logits), 16)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	dev, _ := sampling.New(prm)
	const draws = 3000
	count := map[int32]int{}
	st, err := h.k.Dev.NewStep()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range draws {
		if err := st.Begin(); err != nil {
			t.Fatal(err)
		}
		if err := ds.Record(st, dev, false); err != nil {
			t.Fatal(err)
		}
		if err := st.Submit(); err != nil {
			t.Fatal(err)
		}
		res := ds.Result()
		dev.NextUniform()
		if want := cpu.Sample(logits); res.ID != want {
			t.Fatalf("draw %d: %d, CPU %d", i, res.ID, want)
		}
		count[res.ID]++
	}
	var chi2 float64
	for _, c := range probs {
		e := float64(c.P) * draws
		d := float64(count[c.ID]) - e
		chi2 += d * d / e
	}
	// 6 degrees of freedom: P(chi2 > 22.46) = 0.001.
	if chi2 > 22.46 {
		t.Fatalf("chi-square %.2f over %v", chi2, count)
	}
	t.Logf("chi-square %.2f (6 dof), counts %v", chi2, fmt.Sprint(count))
}
