package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// Sequence is one sequence on a Batcher: a model.Sequence whose Eval
// queues tokens and whose Logits and Sample wait for the step that runs
// them. Begin and End bracket each request. A Sequence is used by one
// goroutine at a time.
type Sequence struct {
	b *Batcher

	// Guarded by b.mu.
	arrival   uint64  // of its current request
	context   int     // positions its current request may use
	tokens    []int32 // by position: stored ones, then pending ones
	stored    int     // positions whose keys and values are in pages
	pages     []int32
	serials   []uint64 // per page: its prefix's index serial, 0 when not known
	logits    []float32
	hasLogits bool
	// waiting: the sequence's caller waits for its next token, with
	// sampler (nil: for the logits). Only then does a step run its last
	// queued token, so that an executor that samples on its device
	// draws it there in the same step.
	waiting  bool
	sampler  *sampling.Sampler
	drawn    int32
	hasDrawn bool
	expected bool   // its next tokens are due soon: steps wait briefly for them
	epoch    uint64 // counts the changes that void a running step's part
	err      error
	stop     func() bool // ends the watch on the request's context
}

var _ model.Sequence = (*Sequence)(nil)

// NewSequence adds a sequence to the batcher.
func (b *Batcher) NewSequence() *Sequence {
	s := &Sequence{b: b, context: b.cfg.Context}
	b.mu.Lock()
	b.seqs = append(b.seqs, s)
	b.mu.Unlock()
	return s
}

// pending reports whether s has tokens not yet run.
func (s *Sequence) pending() bool { return s.err == nil && len(s.tokens) > s.stored }

// runnable is how many of s's pending tokens a step may run: all but the
// last until its caller waits for the result.
func (s *Sequence) runnable() int {
	n := len(s.tokens) - s.stored
	if s.err != nil || n <= 0 {
		return 0
	}
	if !s.waiting {
		n--
	}
	return n
}

// Begin implements model.Sequence.
func (s *Sequence) Begin(ctx context.Context, prompt []int32, positions int) int {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	s.reset()
	b.arrived++
	s.arrival = b.arrived
	if positions > 0 {
		s.context = min(positions, b.cfg.Context)
	}
	s.attach(b.pages, prompt)
	s.tokens = append(s.tokens[:0], prompt[:s.stored]...)
	// A cancelled request frees its pages at once, even while it waits
	// for a step.
	req := s.arrival
	s.stop = context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if s.arrival != req {
			return // the request ended before its cancellation came in
		}
		s.fail(ctx.Err())
		b.stepped.Broadcast()
	})
	return s.stored
}

// End implements model.Sequence.
func (s *Sequence) End() {
	s.b.mu.Lock()
	s.reset()
	s.b.mu.Unlock()
	s.b.signal() // a step may be waiting for s
}

// reset ends the current request: its pages go back to the pool (the
// indexed ones stay mappable until taken).
func (s *Sequence) reset() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	s.drop(s.b.pages)
	s.tokens, s.err, s.hasLogits, s.hasDrawn, s.expected = s.tokens[:0], nil, false, false, false
	s.waiting, s.sampler = false, nil
	s.context = s.b.cfg.Context
}

// attach maps the indexed pages that hold a prefix of tokens (s's own,
// or a prompt's), short of the last token, whose logits a step must
// compute.
func (s *Sequence) attach(p *pages, tokens []int32) {
	if len(tokens) == 0 {
		return
	}
	found := p.lookup(tokens[:len(tokens)-1])
	for _, e := range found {
		p.hold(e.page)
		s.pages, s.serials = append(s.pages, e.page), append(s.serials, e.serial)
	}
	s.stored = len(found) * compute.PageCells
}

// drop returns s's pages; its tokens stay, to be evaluated again.
func (s *Sequence) drop(p *pages) {
	s.epoch++
	p.release(s.pages)
	s.pages, s.serials, s.stored = s.pages[:0], s.serials[:0], 0
}

// fail ends s's pending work with err and frees its pages.
func (s *Sequence) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.drop(s.b.pages)
	s.expected = false
}

// indexFull indexes the pages s filled, in order, so later prompts can
// map them.
func (s *Sequence) indexFull(p *pages) {
	for k := range s.stored / compute.PageCells {
		if s.serials[k] != 0 {
			continue
		}
		var parent uint64
		if k > 0 {
			parent = s.serials[k-1]
		}
		s.serials[k] = p.add(s.pages[k], parent, s.tokens[k*compute.PageCells:(k+1)*compute.PageCells])
	}
}

// Eval implements model.Session: the tokens are queued for the next
// steps; positions from pos on are replaced. Errors of the step surface
// in Logits or Sample.
func (s *Sequence) Eval(tokens []int32, pos int) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if pos < 0 || pos > len(s.tokens) || pos+len(tokens) > s.context {
		return fmt.Errorf("runner: %d tokens at position %d of a sequence of %d in a context of %d: %w",
			len(tokens), pos, len(s.tokens), s.context, model.ErrContextFull)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= b.cfg.Vocab {
			return fmt.Errorf("runner: %w: token %d outside the vocabulary of %d", compute.ErrBatch, t, b.cfg.Vocab)
		}
	}
	if pos < len(s.tokens) {
		s.epoch++ // a running step may hold tokens this replaces
	}
	if pos < s.stored {
		// Pages past pos's go back; pos's own page keeps its earlier
		// positions (a step replaces it first if shared).
		keep := (pos + compute.PageCells - 1) / compute.PageCells
		b.pages.release(s.pages[keep:])
		s.pages, s.serials = s.pages[:keep], s.serials[:keep]
		for k := pos / compute.PageCells; k < keep; k++ {
			s.serials[k] = 0
		}
		s.stored = pos
	}
	s.tokens = append(s.tokens[:pos], tokens...)
	s.hasLogits, s.hasDrawn = false, false
	b.signal()
	return nil
}

// Logits implements model.Session: it waits for the steps that run the
// queued tokens.
func (s *Sequence) Logits() ([]float32, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := s.wait(nil); err != nil {
		return nil, err
	}
	if !s.hasLogits {
		return nil, errors.New("runner: logits requested before any Eval")
	}
	return s.logits, nil
}

// Sample implements model.Session: on an executor that samples on its
// device (compute.SamplingExecutor) the draw is part of the step that
// runs the last queued token; else it is drawn on the CPU from the
// sequence's own row. Either way it is the same draw whatever else ran
// in the step. A sampler that needs the logits (logprobs) draws on the
// CPU.
func (s *Sequence) Sample(smp *sampling.Sampler) (int32, error) {
	b := s.b
	b.mu.Lock()
	onDevice := smp
	if smp.NeedsLogits() {
		onDevice = nil
	}
	err := s.wait(onDevice)
	drawn, hasDrawn, hasLogits, logits := s.drawn, s.hasDrawn, s.hasLogits, s.logits
	b.mu.Unlock()
	switch {
	case err != nil:
		return 0, err
	case hasDrawn:
		return drawn, nil
	case !hasLogits:
		return 0, errors.New("runner: a draw requested before any Eval")
	}
	return smp.Sample(logits), nil
}

// wait waits, locked, until the steps have run s's queued tokens, the
// last drawn with smp (nil: its logits kept).
func (s *Sequence) wait(smp *sampling.Sampler) error {
	b := s.b
	if s.pending() {
		s.waiting, s.sampler = true, smp
		b.signal()
	}
	for s.pending() && !b.closed {
		b.stepped.Wait()
	}
	s.waiting, s.sampler = false, nil
	switch {
	case s.err != nil:
		return s.err
	case b.closed:
		return ErrClosed
	}
	return nil
}

// ContextSize implements model.Session: the positions the current
// request may use.
func (s *Sequence) ContextSize() int {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.context
}

// Close implements model.Session: the sequence leaves the batcher.
func (s *Sequence) Close() error {
	b := s.b
	b.mu.Lock()
	s.reset()
	for i, x := range b.seqs {
		if x == s {
			b.seqs = append(b.seqs[:i], b.seqs[i+1:]...)
			break
		}
	}
	b.mu.Unlock()
	b.signal()
	return nil
}
