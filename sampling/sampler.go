package sampling

import (
	"container/heap"
	"fmt"
	"math"
	"slices"

	"github.com/vkinfer/vkinfer/kernels"
)

// Candidate is a token that survived filtering, with its probability after
// temperature among the survivors.
type Candidate struct {
	ID    int32
	Logit float32 // after penalties
	P     float32
}

// Sampler draws tokens with fixed Params. It keeps the accepted-token
// history for penalties and the step of its random sequence. A Sampler is
// not safe for concurrent use; it allocates only while its scratch grows.
type Sampler struct {
	p       Params
	history []int32
	step    uint64
	work    []float32
	cands   []Candidate
	heap    candHeap
	above   []int32 // topK's filtered ids
	counts  map[int32]int

	constraint Constraint
	logprobs   int // top alternatives to record; -1 records nothing
	last       TokenLogprob
	err        error
}

// New returns a sampler for p, or the validation error.
func New(p Params) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{p: p, counts: make(map[int32]int), logprobs: -1}, nil
}

// Params returns the sampler's parameters.
func (s *Sampler) Params() Params { return s.p }

// Accept records tokens (prompt tokens, and each sampled token, which
// Sample records itself) in the penalty history.
func (s *Sampler) Accept(tokens ...int32) {
	if s.p.RepeatLastN == 0 {
		return
	}
	s.history = append(s.history, tokens...)
	if n := s.p.RepeatLastN; n > 0 && len(s.history) > n {
		s.history = append(s.history[:0], s.history[len(s.history)-n:]...)
	}
}

// History returns the tokens penalties look at, oldest first.
func (s *Sampler) History() []int32 { return s.history }

// Step returns how many uniform numbers the sampler has drawn.
func (s *Sampler) Step() uint64 { return s.step }

// NextUniform returns the next number of the sampler's random sequence.
func (s *Sampler) NextUniform() float32 {
	u := Uniform(s.p.Seed, s.step)
	s.step++
	return u
}

// Penalise returns logits with the history penalties applied. It returns
// logits itself when no penalty applies, else the sampler's scratch copy.
func (s *Sampler) Penalise(logits []float32) []float32 {
	if !s.p.penalised() || len(s.history) == 0 {
		return logits
	}
	s.work = append(s.work[:0], logits...)
	s.penaliseWork()
	return s.work
}

// penaliseWork applies the history penalties to s.work.
func (s *Sampler) penaliseWork() {
	clear(s.counts)
	for _, t := range s.history {
		if t >= 0 && int(t) < len(s.work) {
			s.counts[t]++
		}
	}
	for t, c := range s.counts {
		l := s.work[t]
		if l > 0 {
			l /= s.p.RepeatPenalty
		} else {
			l *= s.p.RepeatPenalty
		}
		s.work[t] = l - float32(c)*s.p.FrequencyPenalty - s.p.PresencePenalty
	}
}

// prepare returns the logits the chain starts from: penalised, then
// masked by the constraint; nil when the constraint allows no token.
func (s *Sampler) prepare(logits []float32) []float32 {
	if s.constraint == nil {
		return s.Penalise(logits)
	}
	s.work = append(s.work[:0], logits...)
	if s.p.penalised() && len(s.history) > 0 {
		s.penaliseWork()
	}
	if !applyMask(s.work, s.constraint.Allowed()) {
		return nil
	}
	return s.work
}

// Sample draws the next token from logits, records it in the history
// and passes it to the constraint. It returns -1 when logits is empty or
// the constraint fails (Err says why).
func (s *Sampler) Sample(logits []float32) int32 {
	s.err = nil
	if len(logits) == 0 {
		s.err = fmt.Errorf("sampling: no logits")
		return -1
	}
	l := s.prepare(logits)
	if l == nil {
		s.err = ErrNoToken
		return -1
	}
	cands := s.candidates(l)
	id := cands[0].ID
	if s.p.Temperature > 0 && len(cands) > 1 {
		id = Pick(cands, s.NextUniform())
	}
	if s.logprobs >= 0 {
		s.recordLogprobs(l, id)
	}
	if s.err = s.Drawn(id, false); s.err != nil {
		return -1
	}
	return id
}

// Pick walks candidates in order and returns the one whose cumulative
// probability first exceeds u. Rounding leftovers go to the last one.
func Pick(cands []Candidate, u float32) int32 {
	var cum float32
	for _, c := range cands {
		cum += c.P
		if u < cum {
			return c.ID
		}
	}
	return cands[len(cands)-1].ID
}

// Candidates returns the tokens that survive steps 1-5 of the chain, in
// draw order, with their step-6 probabilities. For greedy parameters it is
// the single most likely token with P 1. The slice is the sampler's scratch,
// valid until the next call; it is empty when a constraint allows no
// token.
func (s *Sampler) Candidates(logits []float32) []Candidate {
	l := s.prepare(logits)
	if l == nil {
		return s.cands[:0]
	}
	return s.candidates(l)
}

func (s *Sampler) candidates(l []float32) []Candidate {
	maxID := kernels.Argmax(l, false)
	if s.p.Temperature == 0 {
		s.cands = append(s.cands[:0], Candidate{ID: int32(maxID), Logit: l[maxID], P: 1})
		return s.cands
	}
	top := l[maxID]

	// Candidate set after top-k, and the softmax normaliser top-p uses.
	var z float64
	s.cands = s.cands[:0]
	if k := s.p.TopK; k > 0 && k < len(l) {
		s.heap = topK(&s.heap, &s.above, l, k)
		s.cands = append(s.cands, s.heap...)
		for _, c := range s.cands {
			z += math.Exp(float64(c.Logit - top))
		}
	} else {
		for _, x := range l {
			z += math.Exp(float64(x - top))
		}
		s.cands = s.prefilter(l, top, z)
	}
	slices.SortFunc(s.cands, byLogitThenID)
	// Masked tokens (-Inf) sort last and are never drawn.
	for len(s.cands) > 1 && math.IsInf(float64(s.cands[len(s.cands)-1].Logit), -1) {
		s.cands = s.cands[:len(s.cands)-1]
	}

	if s.p.TopP < 1 {
		var cum float64
		for i, c := range s.cands {
			cum += math.Exp(float64(c.Logit-top)) / z
			if cum >= float64(s.p.TopP) {
				s.cands = s.cands[:i+1]
				break
			}
		}
	}
	if s.p.MinP > 0 {
		floor := top + float32(math.Log(float64(s.p.MinP)))
		n := 0
		for n < len(s.cands) && s.cands[n].Logit >= floor {
			n++
		}
		s.cands = s.cands[:max(n, 1)]
	}

	var total float64
	inv := 1 / float64(s.p.Temperature)
	for i := range s.cands {
		w := math.Exp(float64(s.cands[i].Logit-top) * inv)
		s.cands[i].P = float32(w)
		total += w
	}
	for i := range s.cands {
		s.cands[i].P = float32(float64(s.cands[i].P) / total)
	}
	return s.cands
}

func byLogitThenID(a, b Candidate) int {
	switch {
	case a.Logit > b.Logit:
		return -1
	case a.Logit < b.Logit:
		return 1
	}
	return int(a.ID - b.ID)
}

// candHeap is a min-heap by draw order: its root is the weakest kept token.
type candHeap []Candidate

func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return byLogitThenID(h[i], h[j]) > 0 }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)        { *h = append(*h, x.(Candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// topK fills h with the k strongest tokens of l, in no particular order.
// A later token enters the heap only with a logit above its root's (its
// id being larger), and the root only rises; so once the first topKSeed
// tokens are heaped, only the tokens above that root need offering, and
// a SIMD scan finds them (in ids, reused).
func topK(h *candHeap, ids *[]int32, l []float32, k int) candHeap {
	*h = (*h)[:0]
	for i := 0; i < k; i++ {
		*h = append(*h, Candidate{ID: int32(i), Logit: l[i]})
	}
	heap.Init(h)
	offer := func(i int) {
		c := Candidate{ID: int32(i), Logit: l[i]}
		if byLogitThenID(c, (*h)[0]) < 0 {
			(*h)[0] = c
			heap.Fix(h, 0)
		}
	}
	seed := min(len(l), max(k, topKSeed))
	for i := k; i < seed; i++ {
		offer(i)
	}
	*ids = kernels.Above(l[seed:], (*h)[0].Logit, (*ids)[:0], false)
	for _, i := range *ids {
		offer(seed + int(i))
	}
	return *h
}

// topKSeed is how many tokens topK heaps one by one before it filters the
// rest: enough that few of a vocabulary's tokens pass the filter.
const topKSeed = 2048

// prefilter returns the tokens of l that top-p and min-p could keep, so
// that only those are sorted. Both steps keep a prefix of the sorted
// order, so any logit floor that keeps at least TopP of the mass (z) and
// everything min-p keeps loses nothing: the floor is lowered until it does.
func (s *Sampler) prefilter(l []float32, top float32, z float64) []Candidate {
	minPFloor := float32(math.Inf(-1))
	if s.p.MinP > 0 {
		minPFloor = top + float32(math.Log(float64(s.p.MinP)))
	}
	for rel := 1e-3; ; rel *= 1e-3 {
		floor := top + float32(math.Log(rel*z))
		if s.p.TopP >= 1 || rel < 1e-30 {
			floor = float32(math.Inf(-1))
		}
		floor = max(floor, minPFloor)
		var mass float64
		s.cands = s.cands[:0]
		for i, x := range l {
			if x >= floor {
				s.cands = append(s.cands, Candidate{ID: int32(i), Logit: x})
				mass += math.Exp(float64(x - top))
			}
		}
		if floor == minPFloor || mass/z >= float64(s.p.TopP) {
			return s.cands
		}
	}
}
