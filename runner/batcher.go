package runner

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/sampling"
)

// Sentinel errors of a Batcher's sequences.
var (
	// ErrClosed: the batcher closed while the sequence waited.
	ErrClosed = errors.New("runner: batcher closed")
	// ErrFault: a step faulted reading the mapped weights, which happens
	// when the model file changes on disk while loaded.
	ErrFault = errors.New("runner: reading the mapped weights faulted (the file was changed or truncated on disk while loaded)")
)

// BatcherConfig describes the model a Batcher runs and its KV cache.
type BatcherConfig struct {
	File  *gguf.File
	Build Graph
	Vocab int
	// Context bounds the positions of one sequence.
	Context int
	// Cells is the KV cache every sequence takes its pages from, in cells,
	// when the batcher starts; it is rounded up to whole pages and to at
	// least Context. When sequences need more, the cache grows (see
	// Batcher.grow) up to MaxCells, and shrinks back once no sequence
	// holds a page.
	Cells, MaxCells int
	// MaxBatch bounds the tokens of one step (0 means 512).
	MaxBatch int
	// KVType names the KV cache type (compute.KVTypes); "" keeps the
	// graph's own (see cacheOf).
	KVType string
	// FlashAttention: as Config.FlashAttention.
	FlashAttention bool
	// PrefillChunk bounds the prompt tokens of a step that also decodes
	// (0 means 128): a long prompt then delays the others' next token by
	// one chunk's time, not its whole length.
	PrefillChunk int
}

// Batcher runs many sequences on one executor (continuous batching).
// Each step is one forward pass over the next token of every decoding
// sequence and a chunk of waiting prompt tokens, whatever request each
// belongs to. Sequences keep their keys and values in pages of one KV
// cache, taken as they grow and returned when they end, and share the
// pages of a common prompt prefix.
//
// A token's result does not depend on the other tokens of its step: the
// executors compute each row as they would alone, and each sequence
// samples from its own row with its own sampler. So a request's tokens
// are the same alone or beside others.
type Batcher struct {
	cfg     BatcherConfig
	newExec NewExecutor

	// Guarded by mu, as everything below.
	exec   compute.Executor
	graphs *graphs
	cells  int  // of the cache exec holds
	short  bool // a sequence lacked pages the cache could grow to hold

	mu      sync.Mutex
	stepped *sync.Cond // broadcast after each step and on close
	wake    chan struct{}
	pages   *pages
	seqs    []*Sequence
	arrived uint64 // requests begun, to order them by age
	closed  bool
	done    chan struct{} // the loop returned
	steps   uint64
	tokens  uint64 // run by the steps

	batch   compute.Batch
	parts   []part
	pageBuf []int32 // the batch's page tables, one after another
}

// part is a sequence's share of a step: its tokens from position from,
// n of them, with an output row when they end its pending tokens.
type part struct {
	s       *Sequence
	epoch   uint64 // s's when planned
	from, n int
	output  bool
}

// batcherGraphs bounds the graphs a batcher keeps: each count of
// decoding sequences, and each mix with a prompt chunk, is a shape.
const batcherGraphs = 32

// minGrace is the least time a step waits for the sequences of the last
// one to bring their next tokens; a sequence that takes longer (its
// reader is slow, so its engine blocks on the stream) misses the step
// and joins a later one.
const minGrace = 2 * time.Millisecond

// NewBatcher opens an executor with a KV cache of cfg.Cells cells and
// starts the batcher's loop.
func NewBatcher(cfg BatcherConfig, newExec NewExecutor) (*Batcher, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.PrefillChunk <= 0 {
		cfg.PrefillChunk = 128
	}
	if cfg.Context <= 0 || cfg.Vocab <= 0 {
		return nil, fmt.Errorf("runner: context %d and vocabulary %d must be > 0", cfg.Context, cfg.Vocab)
	}
	pages := func(cells int) int { return (cells + compute.PageCells - 1) / compute.PageCells * compute.PageCells }
	cfg.Cells = pages(max(cfg.Cells, cfg.Context))
	cfg.MaxCells = pages(max(cfg.MaxCells, cfg.Cells))
	b := &Batcher{cfg: cfg, newExec: newExec, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.stepped = sync.NewCond(&b.mu)
	if err := b.open(cfg.Cells); err != nil {
		return nil, err
	}
	go b.loop()
	return b, nil
}

// open opens an executor with a cache of cells, closing the one it
// replaces; every sequence's pages are gone with it (they evaluate their
// tokens again), and so is the prefix index.
func (b *Batcher) open(cells int) error {
	gs := newGraphs(b.cfg.File, b.cfg.Build, batcherGraphs)
	g, err := gs.get(compute.BatchShape{Tokens: 1, Outputs: 1})
	if err != nil {
		return err
	}
	cache, err := cacheOf(g, b.cfg.KVType, b.cfg.FlashAttention)
	if err != nil {
		return err
	}
	exec, err := b.newExec(cache, cells)
	if err != nil {
		return fmt.Errorf("runner: a KV cache of %d cells: %w", cells, err)
	}
	if b.exec != nil {
		for _, s := range b.seqs {
			s.pages, s.serials, s.stored = s.pages[:0], s.serials[:0], 0
		}
		b.exec.Close()
	}
	gs.exec = exec
	b.exec, b.graphs, b.pages, b.cells = exec, gs, newPages(cells/compute.PageCells), cells
	return nil
}

// Grower is an executor whose cache can grow in place, keeping what it
// holds (backend/cpu's and backend/vulkan's); others (compute.Reference)
// are replaced by a larger one, and every sequence evaluates its tokens
// again.
type Grower interface {
	Grow(cells int) error
}

// grow enlarges the cache, up to MaxCells, after a step that lacked
// pages: in place by an eighth (at least a page a sequence) where the
// executor grows, so memory stays within about 1.125 times the cells in
// use, else (an executor that is not a Grower) by doubling, as each such
// growth evaluates every sequence again. A cache the device refuses to
// grow stops growing.
func (b *Batcher) grow() {
	if !b.short {
		return
	}
	b.short = false
	if g, ok := b.exec.(Grower); ok {
		cells := min(max(b.cells+b.cells/8, b.cells+len(b.seqs)*compute.PageCells), b.cfg.MaxCells)
		cells = cells / compute.PageCells * compute.PageCells
		if err := g.Grow(cells); err != nil {
			b.cfg.MaxCells = b.cells
			return
		}
		b.pages.grow(cells / compute.PageCells)
		b.cells = cells
		return
	}
	if err := b.open(min(2*b.cells, b.cfg.MaxCells)); err != nil {
		b.cfg.MaxCells = b.cells
	}
}

// shrink returns a grown cache to its first size once no sequence holds
// a page, so memory follows the tokens in use.
func (b *Batcher) shrink() {
	if held, _, _ := b.pages.counts(); held == 0 && b.cells > b.cfg.Cells {
		b.open(b.cfg.Cells) // cannot fail where a larger one opened, and if it does the old one stays
	}
}

// Context returns the most positions one sequence may hold.
func (b *Batcher) Context() int { return b.cfg.Context }

// CacheStatus is the KV cache's use, in cells.
type CacheStatus struct {
	// Used cells are in pages sequences hold; Cached cells in pages no
	// sequence holds but a later prompt may map (a prefix index entry);
	// Free cells in neither. Cached pages are taken back when no free
	// page is left.
	Used, Cached, Free int
	// Sequences is how many sequences are open; Steps the forward
	// passes run so far, and Tokens the tokens they ran, those
	// evaluated again (after a preemption, or a growth that replaced the
	// executor) included.
	Sequences     int
	Steps, Tokens uint64
}

// Status returns the cache's use.
func (b *Batcher) Status() CacheStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	held, idle, free := b.pages.counts()
	return CacheStatus{Used: held * compute.PageCells, Cached: idle * compute.PageCells, Free: free * compute.PageCells,
		Sequences: len(b.seqs), Steps: b.steps, Tokens: b.tokens}
}

// Executor returns the executor the batcher runs on now.
func (b *Batcher) Executor() compute.Executor {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exec
}

// Close stops the loop, fails the sequences still waiting with ErrClosed
// and closes the executor. The sequences must not be used after.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.stepped.Broadcast()
	b.mu.Unlock()
	b.signal()
	<-b.done
	return b.exec.Close()
}

// signal wakes the loop.
func (b *Batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Batcher) loop() {
	defer close(b.done)
	// The weights are mapped from the model file: a fault reading them
	// fails the step's sequences (see run) rather than the process.
	debug.SetPanicOnFault(true)
	var last time.Duration
	for b.gather(max(last, minGrace)) {
		start := time.Now()
		b.step()
		last = time.Since(start)
	}
}

// gather waits until a step has work: a sequence with tokens to run, and
// each sequence of the last step back with its next token or the grace
// passed (it is then no longer waited for). It returns false once the
// batcher closes.
func (b *Batcher) gather(grace time.Duration) bool {
	deadline := time.Now().Add(grace)
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return false
		}
		ready, late := false, false
		for _, s := range b.seqs {
			ready = ready || s.runnable() > 0
			late = late || (s.expected && s.runnable() == 0)
		}
		if ready && (!late || !time.Now().Before(deadline)) {
			for _, s := range b.seqs {
				s.expected = s.expected && s.runnable() > 0
			}
			b.mu.Unlock()
			return true
		}
		if !ready {
			b.shrink()
		}
		b.mu.Unlock()
		if !ready {
			<-b.wake
			continue
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-b.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// step plans one forward pass over the waiting tokens, runs it and hands
// each sequence its output row.
func (b *Batcher) step() {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.grow()
	b.plan()
	if len(b.parts) == 0 {
		// Every waiting sequence lacks pages that only an older one's end
		// frees; the loop runs again when a sequence changes.
		return
	}
	b.steps++
	b.tokens += uint64(len(b.batch.Tokens))
	g, err := b.graphs.get(b.batch.Shape())
	var out []float32
	var ids []int32
	smps := b.samplers()
	if err == nil {
		// The executor runs unlocked, on the batch's own copies of the
		// tokens and page tables, so that status, new prompts and
		// cancellations do not wait for it. Only this loop takes pages,
		// so none of the step's moves under it; a sequence that changed
		// meanwhile (its epoch) keeps nothing of the step.
		b.mu.Unlock()
		ids, out, err = b.run(g, smps)
		b.mu.Lock()
	}
	row := 0
	for _, p := range b.parts {
		s, current := p.s, p.s.epoch == p.epoch
		switch {
		case err != nil && current:
			s.fail(fmt.Errorf("runner: step of %d tokens: %w", len(b.batch.Tokens), err))
		case err != nil:
		case current:
			s.stored += p.n
			s.indexFull(b.pages)
			if !p.output {
				break
			}
			if ids != nil && ids[row] >= 0 {
				s.drawn, s.hasDrawn = ids[row], true
			} else {
				s.logits = append(s.logits[:0], out[row*b.cfg.Vocab:(row+1)*b.cfg.Vocab]...)
				s.hasLogits = true
			}
			s.expected = true
		}
		if p.output {
			row++
		}
	}
	b.stepped.Broadcast()
}

// samplers returns, per output row of the planned batch, the sampler
// its sequence waits to draw with, for an executor that samples on its
// device; nil when there is none to use.
func (b *Batcher) samplers() []*sampling.Sampler {
	if _, ok := b.exec.(compute.SamplingExecutor); !ok {
		return nil
	}
	var smps []*sampling.Sampler
	any := false
	for _, p := range b.parts {
		if p.output {
			smps = append(smps, p.s.sampler)
			any = any || p.s.sampler != nil
		}
	}
	if !any {
		return nil
	}
	if len(smps) < b.batch.Outputs() { // the unread row of a prompt-only step
		smps = append(smps, nil)
	}
	return smps
}

// run runs the planned batch, drawing on the device with smps when set,
// turning a fault or a panic of the executor into the step's error.
func (b *Batcher) run(g *compute.Graph, smps []*sampling.Sampler) (ids []int32, out []float32, err error) {
	defer func() {
		r := recover()
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("%w: %s at %#x", ErrFault, b.cfg.File.Name, fault.Addr())
		} else if r != nil {
			err = fmt.Errorf("runner: the executor panicked: %v", r)
		}
	}()
	if smps != nil {
		return b.exec.(compute.SamplingExecutor).RunSample(g, &b.batch, smps)
	}
	out, err = b.exec.Run(g, &b.batch)
	return nil, out, err
}

// plan fills b.batch and b.parts: decoding sequences first, oldest
// first, then prompt chunks in order of arrival, within the step's token
// bound; each sequence's tokens get pages, taken from younger sequences
// when the cache is full.
func (b *Batcher) plan() {
	b.parts = b.parts[:0]
	ready := make([]*Sequence, 0, len(b.seqs))
	for _, s := range b.seqs {
		if s.runnable() > 0 {
			ready = append(ready, s)
		}
	}
	decoding := func(s *Sequence) bool { return len(s.tokens)-s.stored == 1 }
	slices.SortStableFunc(ready, func(x, y *Sequence) int {
		if dx, dy := decoding(x), decoding(y); dx != dy {
			if dx {
				return -1
			}
			return 1
		}
		return int(x.arrival) - int(y.arrival)
	})
	budget, prompt := b.cfg.MaxBatch, b.cfg.MaxBatch
	if len(ready) > 0 && decoding(ready[0]) {
		prompt = b.cfg.PrefillChunk
	}
	for _, s := range ready {
		if budget == 0 {
			break
		}
		if s.stored == 0 && len(s.pages) == 0 {
			s.attach(b.pages, s.tokens)
		}
		n := s.runnable()
		if len(s.tokens)-s.stored > 1 {
			n = min(n, prompt)
		}
		n = min(n, budget)
		if n = b.reserve(s, n); n <= 0 {
			continue
		}
		if len(s.tokens)-s.stored > 1 {
			prompt -= n
		}
		budget -= n
		b.parts = append(b.parts, part{s: s, epoch: s.epoch, from: s.stored, n: n, output: s.stored+n == len(s.tokens)})
	}
	if len(b.parts) > 0 { // else step runs nothing (every sequence waits for pages)
		b.fill()
	}
}

// reserve gives s the pages for its next n tokens, returning how many of
// them have pages. A page s would write into but shares is replaced by a
// fresh one, whose earlier positions s evaluates again. Missing pages
// come from the free ones, then from the index, then from younger
// sequences, which lose all theirs (preemption) and evaluate their
// tokens again later.
func (b *Batcher) reserve(s *Sequence, n int) int {
	if k := s.stored / compute.PageCells; k < len(s.pages) && b.pages.shared(s.pages[k]) {
		b.pages.release(s.pages[k:])
		s.pages, s.serials = s.pages[:k], s.serials[:k]
		n += s.stored - k*compute.PageCells
		s.stored = k * compute.PageCells
	}
	need := (s.stored + n + compute.PageCells - 1) / compute.PageCells
	for len(s.pages) < need {
		pg, ok := b.pages.take()
		if !ok && b.cells < b.cfg.MaxCells {
			b.short = true // the step after this one has a larger cache
			break
		}
		if !ok && b.preemptFor(s) {
			pg, ok = b.pages.take()
		}
		if !ok {
			break
		}
		s.pages = append(s.pages, pg)
		s.serials = append(s.serials, 0)
	}
	return min(n, len(s.pages)*compute.PageCells-s.stored)
}

// preemptFor frees the pages of a sequence s may take them from, and
// reports whether it found one: a paused sequence (its reader is slow,
// so it has no tokens waiting) first, else the youngest sequence younger
// than s. Neither may have a part in the step being planned.
func (b *Batcher) preemptFor(s *Sequence) bool {
	var victim *Sequence
	rank := func(v *Sequence) (paused bool, arrival uint64) { return !v.pending(), v.arrival }
	for _, v := range b.seqs {
		if v == s || len(v.pages) == 0 || b.planned(v) || (v.pending() && v.arrival < s.arrival) {
			continue
		}
		if victim == nil {
			victim = v
			continue
		}
		vp, va := rank(v)
		wp, wa := rank(victim)
		if vp && !wp || vp == wp && va > wa {
			victim = v
		}
	}
	if victim == nil {
		return false
	}
	victim.drop(b.pages)
	return true
}

func (b *Batcher) planned(s *Sequence) bool {
	for _, p := range b.parts {
		if p.s == s {
			return true
		}
	}
	return false
}

// fill writes the planned parts into b.batch, with copies of their
// page tables.
func (b *Batcher) fill() {
	bt := &b.batch
	*bt = compute.Batch{Tokens: bt.Tokens[:0], Pos: bt.Pos[:0], Seq: bt.Seq[:0], Pages: bt.Pages[:0], Output: bt.Output[:0]}
	b.pageBuf = b.pageBuf[:0]
	for i, p := range b.parts {
		b.pageBuf = append(b.pageBuf, p.s.pages...)
		for k := range p.n {
			bt.Tokens = append(bt.Tokens, p.s.tokens[p.from+k])
			bt.Pos = append(bt.Pos, int32(p.from+k))
			bt.Seq = append(bt.Seq, int32(i))
			bt.Output = append(bt.Output, p.output && k == p.n-1)
		}
	}
	off := 0
	for _, p := range b.parts {
		bt.Pages = append(bt.Pages, b.pageBuf[off:off+len(p.s.pages):off+len(p.s.pages)])
		off += len(p.s.pages)
	}
	// A step of prompt chunks only still returns a row (graphs have at
	// least one output), which nobody reads.
	if !slices.Contains(bt.Output, true) {
		bt.Output[len(bt.Output)-1] = true
	}
}
