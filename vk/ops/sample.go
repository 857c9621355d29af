package ops

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
)

// MaxCandidates is how many candidates the device sampler sorts; a chain
// that needs more (top-k off or larger, with neither top-p nor min-p
// cutting inside them) reports Overflow and the caller samples on the CPU.
const MaxCandidates = 1024

// sampleWG is the sampler's workgroup: its radix histogram has 256 bins.
const sampleWG = 256

// Sampler is the device sampler bound to a logits buffer.
type Sampler struct {
	k      *Kernels
	p      *vk.Pipeline
	set    vk.Set
	vocab  int
	pen    *vk.Buffer // (token, count) pairs
	work   *vk.Buffer
	out    *vk.Buffer // id, n, flags, 0, ids[MaxCandidates], probs[MaxCandidates]
	mask   *vk.Buffer // a constraint's allowed tokens, one bit each
	push   [15]uint32
	pairs  []byte
	counts map[int32]uint32
}

// SampleResult is what one device draw returns.
type SampleResult struct {
	ID       int32
	Overflow bool // the candidate set exceeded MaxCandidates: sample on the CPU
	Drew     bool // a uniform number of the sampler's sequence was used
}

// NewSampler binds the sampler to logits (vocab floats). maxHistory
// bounds the distinct tokens penalties look at.
func (k *Kernels) NewSampler(sets *vk.Sets, logits vk.Range, vocab, maxHistory int) (*Sampler, error) {
	p, err := k.pipeline("sample", gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	s := &Sampler{k: k, p: p, vocab: vocab, counts: map[int32]uint32{}}
	if s.pen, err = k.Dev.NewBuffer(uint64(8*max(maxHistory, 1)), vk.HostVisible); err != nil {
		return nil, err
	}
	if s.work, err = k.Dev.NewBuffer(uint64(4*vocab), vk.DeviceLocal); err != nil {
		s.Close()
		return nil, err
	}
	if s.out, err = k.Dev.NewBuffer(uint64(4*(4+2*MaxCandidates)), vk.HostVisible); err != nil {
		s.Close()
		return nil, err
	}
	if s.mask, err = k.Dev.NewBuffer(uint64(8*((vocab+63)/64)), vk.HostVisible); err != nil {
		s.Close()
		return nil, err
	}
	if s.set, err = sets.Bind(p, logits, s.pen.All(), s.work.All(), s.out.All(), s.mask.All()); err != nil {
		s.Close()
		return nil, fmt.Errorf("ops: sampler: %w", err)
	}
	return s, nil
}

// Close frees the sampler's buffers (its set goes with its Sets).
func (s *Sampler) Close() {
	s.pen.Close()
	s.work.Close()
	s.out.Close()
	s.mask.Close()
}

// Record adds the draw of smp's next token to step st: its parameters,
// its penalty history, its constraint's mask (uploaded now, from the
// constraint's state on the host) and the step of its random sequence.
// The result is read with Result after the step is submitted and passed
// to smp.Drawn; withCandidates also writes the candidate list for
// Candidates.
func (s *Sampler) Record(st *vk.Step, smp *sampling.Sampler, withCandidates bool) error {
	prm := smp.Params()
	npen := 0
	if prm.RepeatLastN != 0 && (prm.RepeatPenalty != 1 || prm.PresencePenalty != 0 || prm.FrequencyPenalty != 0) {
		clear(s.counts)
		for _, t := range smp.History() {
			if t >= 0 && int(t) < s.vocab {
				s.counts[t]++
			}
		}
		if need := 8 * len(s.counts); uint64(need) > s.pen.Size() {
			return fmt.Errorf("ops: sampler: %d distinct history tokens, room for %d", len(s.counts), s.pen.Size()/8)
		}
		s.pairs = s.pairs[:0]
		for t, c := range s.counts {
			s.pairs = binary.LittleEndian.AppendUint32(s.pairs, uint32(t))
			s.pairs = binary.LittleEndian.AppendUint32(s.pairs, c)
		}
		copy(s.pen.Bytes(), s.pairs)
		npen = len(s.counts)
	}
	want := uint32(0)
	if withCandidates {
		want = 1
	}
	useMask := uint32(0)
	if set := smp.Mask(); set != nil {
		useMask = 1
		b := s.mask.Bytes()
		anyAllowed := false
		for i := range (s.vocab + 63) / 64 {
			w := uint64(0)
			if i < len(set) {
				w = set[i]
			}
			anyAllowed = anyAllowed || w != 0
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		if !anyAllowed {
			return fmt.Errorf("ops: sampler: %w", sampling.ErrNoToken)
		}
	}
	step := smp.Step()
	s.push = [15]uint32{uint32(s.vocab), uint32(npen), uint32(max(prm.TopK, 0)), f32(prm.TopP), f32(prm.MinP), f32(prm.Temperature),
		f32(prm.RepeatPenalty), f32(prm.FrequencyPenalty), f32(prm.PresencePenalty),
		uint32(prm.Seed), uint32(prm.Seed >> 32), uint32(step), uint32(step >> 32), want, useMask}
	st.Dispatch(s.p, s.set, s.push[:], 1, 1, 1)
	return nil
}

// MayOverflow reports whether a draw with prm can report Overflow: only a
// tempered draw whose top-k keeps more than MaxCandidates tokens can. A
// caller whose logits are not host-visible uses it to copy them out in the
// same step, in case the CPU has to sample them.
func (s *Sampler) MayOverflow(prm sampling.Params) bool {
	return prm.Temperature != 0 && s.vocab > MaxCandidates && (prm.TopK <= 0 || prm.TopK > MaxCandidates)
}

// Result reads the last submitted draw.
func (s *Sampler) Result() SampleResult {
	b := s.out.Bytes()
	flags := binary.LittleEndian.Uint32(b[8:])
	return SampleResult{ID: int32(binary.LittleEndian.Uint32(b)), Overflow: flags&1 != 0, Drew: flags&2 != 0}
}

// Candidates reads the last draw's candidate list (recorded with
// withCandidates), in draw order with tempered probabilities.
func (s *Sampler) Candidates() []sampling.Candidate {
	b := s.out.Bytes()
	n := int(binary.LittleEndian.Uint32(b[4:]))
	n = min(n, MaxCandidates)
	out := make([]sampling.Candidate, n)
	for i := range out {
		out[i].ID = int32(binary.LittleEndian.Uint32(b[16+4*i:]))
		out[i].P = math.Float32frombits(binary.LittleEndian.Uint32(b[16+4*MaxCandidates+4*i:]))
	}
	return out
}
