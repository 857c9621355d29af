package runner_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/sampling"
)

// stories opens stories260K and its graph for the batcher tests.
func stories(t *testing.T) (*gguf.File, *llama.Model) {
	t.Helper()
	f, err := gguf.Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, m
}

// batchersOn opens stories260K through runner.Open on the executor
// named (archtest.Executors) and returns, beside the file and its graph,
// a function that opens a batcher of 128-token contexts on it; all are
// closed when the test ends.
func batchersOn(t *testing.T, executor string) (*gguf.File, *llama.Model, func() *runner.Batcher) {
	t.Helper()
	f, m := stories(t)
	rm, err := runner.Open(f, archtest.Backend(t, executor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rm.Close() })
	return f, m, func() *runner.Batcher {
		b, err := rm.NewBatcher(128, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}

func newBatcher(t *testing.T, f *gguf.File, m *llama.Model, context, cells int) *runner.Batcher {
	return newGrowing(t, f, m, context, cells, 0)
}

func newGrowing(t *testing.T, f *gguf.File, m *llama.Model, context, cells, maxCells int) *runner.Batcher {
	t.Helper()
	b, err := runner.NewBatcher(runner.BatcherConfig{File: f, Build: m.Build, Vocab: m.Config.VocabSize, Context: context, Cells: cells, MaxCells: maxCells},
		func(c compute.CacheShape, cells int) (compute.Executor, error) {
			return compute.NewReference(c, cells), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// generated is one request's output: its ids and the logits of each
// draw.
type generated struct {
	ids    []int32
	logits [][]float32
	reused int
}

// generate runs one request on s as the engine does: the prompt after
// the mapped prefix, then n draws with seed.
func generate(ctx context.Context, s model.Sequence, prompt []int32, n int, seed uint64) (generated, error) {
	var g generated
	g.reused = s.Begin(ctx, prompt, 0)
	defer s.End()
	p := sampling.Defaults()
	p.Seed = seed
	smp, err := sampling.New(p)
	if err != nil {
		return g, err
	}
	if err := s.Eval(prompt[g.reused:], g.reused); err != nil {
		return g, err
	}
	pos := len(prompt)
	for range n {
		l, err := s.Logits()
		if err != nil {
			return g, err
		}
		g.logits = append(g.logits, slices.Clone(l))
		id := smp.Sample(l)
		g.ids = append(g.ids, id)
		if err := s.Eval([]int32{id}, pos); err != nil {
			return g, err
		}
		pos++
	}
	return g, nil
}

// drawn runs one request on s as the engine does, with Sample: on an
// executor that samples on its device, the draws happen there. It
// returns no logits.
func drawn(ctx context.Context, s model.Sequence, prompt []int32, n int, seed uint64) (generated, error) {
	var g generated
	g.reused = s.Begin(ctx, prompt, 0)
	defer s.End()
	p := sampling.Defaults()
	p.Seed = seed
	smp, err := sampling.New(p)
	if err != nil {
		return g, err
	}
	if err := s.Eval(prompt[g.reused:], g.reused); err != nil {
		return g, err
	}
	for range n {
		id, err := s.Sample(smp)
		if err != nil {
			return g, err
		}
		g.ids = append(g.ids, id)
		if err := s.Eval([]int32{id}, len(prompt)+len(g.ids)-1); err != nil {
			return g, err
		}
	}
	return g, nil
}

// prompts returns n distinct prompts of varied lengths.
func prompts(n int) [][]int32 {
	var ps [][]int32
	for i := range n {
		p := []int32{1}
		for k := range 5 + 7*i%40 {
			p = append(p, int32(260+(i*31+k*7)%250))
		}
		ps = append(ps, p)
	}
	return ps
}

// TestBatchInvariance: on each executor, a request's draws and logits
// are bit-identical alone and beside 15 others of different lengths; on
// the reference they also equal the single-sequence Session's.
func TestBatchInvariance(t *testing.T) {
	for _, name := range archtest.Executors {
		t.Run(name, func(t *testing.T) { testBatchInvariance(t, name) })
	}
}

func testBatchInvariance(t *testing.T, executor string) {
	f, m, open := batchersOn(t, executor)
	ps := prompts(16)
	const n, seed = 12, 7
	alone, err := generate(t.Context(), open().NewSequence(), ps[0], n, seed)
	if err != nil {
		t.Fatal(err)
	}

	if executor == "reference" {
		// The old path: one sequence in base cells.
		sess, err := runner.New(runner.Config{File: f, Build: m.Build, Vocab: m.Config.VocabSize, Context: 128},
			func(c compute.CacheShape, cells int) (compute.Executor, error) {
				return compute.NewReference(c, cells), nil
			})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if err := sess.Eval(ps[0], 0); err != nil {
			t.Fatal(err)
		}
		for i, id := range alone.ids {
			l, err := sess.Logits()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l, alone.logits[i]) {
				t.Fatalf("draw %d: the batcher's logits differ from the session's", i)
			}
			if err := sess.Eval([]int32{id}, len(ps[0])+i); err != nil {
				t.Fatal(err)
			}
		}
	}

	b16 := open()
	results := make([]generated, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { results[i], errs[i] = generate(t.Context(), b16.NewSequence(), p, n, seed+uint64(i)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(results[0].ids, alone.ids) {
		t.Errorf("beside 15 others: %v, alone: %v", results[0].ids, alone.ids)
	}
	for i := range alone.logits {
		if !slices.Equal(results[0].logits[i], alone.logits[i]) {
			t.Fatalf("draw %d: logits beside 15 others differ from alone", i)
		}
	}
	if st := b16.Status(); st.Steps >= uint64(16*(n+1)) {
		t.Errorf("%d steps for 16 sequences of %d draws: not batched", st.Steps, n)
	}

	// Drawn by Sample (on the device where the executor samples there):
	// the same ids alone, beside 15 others, and as drawn on the host.
	aloneDrawn, err := drawn(t.Context(), open().NewSequence(), ps[0], n, seed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(aloneDrawn.ids, alone.ids) {
		t.Errorf("drawn by Sample alone %v, on the host %v", aloneDrawn.ids, alone.ids)
	}
	bd := open()
	all := make([]generated, len(ps))
	for i, p := range ps {
		wg.Go(func() { all[i], errs[i] = drawn(t.Context(), bd.NewSequence(), p, n, seed+uint64(i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if !slices.Equal(all[i].ids, results[i].ids) {
			t.Errorf("sequence %d drawn by Sample beside 15: %v, on the host %v", i, all[i].ids, results[i].ids)
		}
	}
	t.Logf("%s: 16 sequences in %d steps", executor, b16.Status().Steps)
}

// TestPrefixSharing: a request whose prompt shares whole pages with an
// earlier one maps them (its reused count), while both run, and draws
// the same ids as without sharing.
func TestPrefixSharing(t *testing.T) {
	f, m := stories(t)
	shared := prompts(3)[2] // 20 tokens: one whole page
	for len(shared) < 2*compute.PageCells+5 {
		shared = append(shared, int32(300+len(shared)))
	}
	a := append(slices.Clone(shared), 401, 402)
	c := append(slices.Clone(shared), 403)

	fresh := newBatcher(t, f, m, 128, 0)
	want, err := generate(t.Context(), fresh.NewSequence(), c, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatcher(t, f, m, 128, 0)
	first := b.NewSequence()
	first.Begin(t.Context(), a, 0)
	if err := first.Eval(a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Logits(); err != nil {
		t.Fatal(err)
	}
	used := b.Status().Used
	got, err := generate(t.Context(), b.NewSequence(), c, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got.reused != 2*compute.PageCells {
		t.Errorf("reused %d positions, want %d", got.reused, 2*compute.PageCells)
	}
	if !slices.Equal(got.ids, want.ids) {
		t.Errorf("with shared pages %v, without %v", got.ids, want.ids)
	}
	// While both held pages, the second took only pages past the shared
	// ones: now that it ended, the first holds what it held.
	if st := b.Status(); st.Used != used {
		t.Errorf("%d cells used after the second request, %d before", st.Used, used)
	}
	first.End()
	if st := b.Status(); st.Used != 0 || st.Cached == 0 {
		t.Errorf("after both ended: %+v, want nothing used and the indexed pages cached", st)
	}
	// A third request maps the pages the first two left behind.
	again, err := generate(t.Context(), b.NewSequence(), c, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	if again.reused != 2*compute.PageCells || !slices.Equal(again.ids, want.ids) {
		t.Errorf("third request reused %d, drew %v; want %d, %v", again.reused, again.ids, 2*compute.PageCells, want.ids)
	}
}

// TestExhaustion: more sequences than the cache holds at once all finish
// with the ids they draw alone, waiting or giving way to older ones.
func TestExhaustion(t *testing.T) {
	f, m := stories(t)
	ps := prompts(6)
	const n = 10
	want := make([]generated, len(ps))
	alone := newBatcher(t, f, m, 64, 0)
	for i, p := range ps {
		var err error
		if want[i], err = generate(t.Context(), alone.NewSequence(), p, n, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	small := newBatcher(t, f, m, 64, 64) // 4 pages; each sequence needs up to 4
	got := make([]generated, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { got[i], errs[i] = generate(t.Context(), small.NewSequence(), p, n, uint64(i)) })
	}
	wg.Wait()
	for i := range ps {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !slices.Equal(got[i].ids, want[i].ids) {
			t.Errorf("request %d in a full cache: %v, alone %v", i, got[i].ids, want[i].ids)
		}
	}
	if st := small.Status(); st.Used != 0 {
		t.Errorf("%d cells used after every request ended", st.Used)
	}
}

// TestGrowth: a cache too small for the sequences in flight grows, they
// draw the ids and logits (same bits) of a run whose cache was large from
// the start, and it shrinks back once they end; the same with the draws
// by Sample (on the device on Vulkan). The CPU and Vulkan executors grow
// in place, so every token runs once; the reference is replaced by a
// larger one, and the sequences evaluate their tokens again.
func TestGrowth(t *testing.T) {
	for _, executor := range []string{"reference", "cpu", "vulkan"} {
		t.Run(executor, func(t *testing.T) { testGrowth(t, executor) })
	}
}

func testGrowth(t *testing.T, executor string) {
	f, m := stories(t)
	ps := prompts(6)
	const n = 10
	newExec := func(c compute.CacheShape, cells int) (compute.Executor, error) {
		return compute.NewReference(c, cells), nil
	}
	inPlace := executor != "reference"
	switch executor {
	case "cpu":
		newExec = func(c compute.CacheShape, cells int) (compute.Executor, error) { return cpu.New(c, cells) }
	case "vulkan":
		w := vulkan.NewWeights(opstest.Kernels(t))
		t.Cleanup(w.Close)
		newExec = w.NewExecutor
	}
	open := func(cells, maxCells int) *runner.Batcher {
		b, err := runner.NewBatcher(runner.BatcherConfig{File: f, Build: m.Build, Vocab: m.Config.VocabSize, Context: 64, Cells: cells, MaxCells: maxCells}, newExec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	// run runs the prompts at once on b, each with gen. Each request
	// pauses after its first draw until all have drawn it, and so hold
	// their prompts' pages together (192 cells); run returns the cache's
	// cells then.
	type gen func(context.Context, model.Sequence, []int32, int, uint64) (generated, error)
	run := func(b *runner.Batcher, gen gen) ([]generated, int) {
		got := make([]generated, len(ps))
		errs := make([]error, len(ps))
		resume := make(chan struct{})
		var wg sync.WaitGroup
		firsts := make([]chan struct{}, len(ps))
		for i, p := range ps {
			firsts[i] = make(chan struct{})
			wg.Go(func() {
				got[i], errs[i] = gen(t.Context(), pausing{b.NewSequence(), firsts[i], resume}, p, n, uint64(i))
			})
		}
		for _, first := range firsts {
			<-first
		}
		st := b.Status()
		close(resume)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		return got, st.Used + st.Cached + st.Free
	}
	for _, pass := range []struct {
		name string
		gen  gen
	}{{"logits", generate}, {"sample", drawn}} {
		want, _ := run(open(512, 0), pass.gen)
		b := open(64, 512)
		got, cells := run(b, pass.gen)
		for i := range ps {
			if !slices.Equal(got[i].ids, want[i].ids) {
				t.Errorf("%s: request %d in a growing cache: %v, in a large one %v", pass.name, i, got[i].ids, want[i].ids)
			}
			for k := range want[i].logits {
				if !slices.Equal(got[i].logits[k], want[i].logits[k]) {
					t.Errorf("%s: request %d draw %d: logits in a growing cache differ from a large one's", pass.name, i, k)
					break
				}
			}
		}
		if cells < 192 {
			t.Errorf("%s: the cache held %d cells while 6 prompts held theirs, want it grown to at least 192", pass.name, cells)
		}
		// Each request runs its prompt but the pages it mapped, and its
		// draws but the last (whose result nobody waits for).
		once := 0
		for i, p := range ps {
			once += len(p) - got[i].reused + n - 1
		}
		st := b.Status()
		t.Logf("%s, %s: %d tokens run (%d once), the cache at %d cells", executor, pass.name, st.Tokens, once, cells)
		switch {
		case inPlace && st.Tokens != uint64(once):
			t.Errorf("%s: the steps ran %d tokens, each once is %d: growing in place evaluated some again", pass.name, st.Tokens, once)
		case !inPlace && st.Tokens <= uint64(once):
			t.Errorf("%s: the steps ran %d tokens, each once is %d: replacing the executor evaluated none again", pass.name, st.Tokens, once)
		}
		b.NewSequence().Close() // a change the loop looks at, once idle
		deadline := time.Now().Add(5 * time.Second)
		for st := b.Status(); st.Used+st.Cached+st.Free != 64; st = b.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: idle cache of %+v, want 64 cells again", pass.name, st)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestLongPrompt: a prompt longer than a step runs in chunks that
// return no row of their own, on the CPU executor as on the reference.
func TestLongPrompt(t *testing.T) {
	f, m := stories(t)
	b, err := runner.NewBatcher(runner.BatcherConfig{File: f, Build: m.Build, Vocab: m.Config.VocabSize, Context: 256, MaxBatch: 64},
		func(c compute.CacheShape, cells int) (compute.Executor, error) { return cpu.New(c, cells) })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := prompts(1)[0]
	for len(p) < 150 {
		p = append(p, int32(260+len(p)%200))
	}
	long, err := generate(t.Context(), b.NewSequence(), p, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := newBatcher(t, f, m, 256, 0)
	want, err := generate(t.Context(), ref.NewSequence(), p, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(long.ids, want.ids) {
		t.Errorf("cpu in chunks of 64: %v, reference %v", long.ids, want.ids)
	}
}

// pausing is a sequence whose first Logits reports on first and then
// waits for resume.
type pausing struct {
	*runner.Sequence
	first, resume chan struct{}
}

func (p pausing) Logits() ([]float32, error) {
	l, err := p.Sequence.Logits()
	p.pause()
	return l, err
}

// Sample pauses as Logits does.
func (p pausing) Sample(smp *sampling.Sampler) (int32, error) {
	id, err := p.Sequence.Sample(smp)
	p.pause()
	return id, err
}

func (p pausing) pause() {
	if p.first != nil {
		select {
		case <-p.first:
		default:
			close(p.first)
			<-p.resume
		}
	}
}

// TestCancel: cancelling a request in the middle of a batch fails its
// wait with the context's error and frees its pages at once; the others
// finish as alone.
func TestCancel(t *testing.T) {
	f, m := stories(t)
	ps := prompts(2)
	alone := newBatcher(t, f, m, 128, 0)
	want, err := generate(t.Context(), alone.NewSequence(), ps[0], 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatcher(t, f, m, 128, 0)
	victim := b.NewSequence()
	ctx, cancel := context.WithCancel(t.Context())
	victim.Begin(ctx, ps[1], 0)
	if err := victim.Eval(ps[1], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Logits(); err != nil {
		t.Fatal(err)
	}
	victimCells := b.Status().Used
	// The other request is in flight too when the victim is cancelled:
	// it waits after its first draw until the cancellation is checked.
	other := b.NewSequence()
	firstDraw, resume := make(chan struct{}), make(chan struct{})
	done := make(chan generated)
	go func() {
		g, err := generate(t.Context(), pausing{other, firstDraw, resume}, ps[0], 10, 1)
		if err != nil {
			t.Error(err)
		}
		done <- g
	}()
	<-firstDraw
	if err := victim.Eval([]int32{300}, len(ps[1])); err != nil {
		t.Fatal(err)
	}
	before := b.Status().Used
	cancel()
	if _, err := victim.Logits(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sequence's wait: %v, want context.Canceled", err)
	}
	if after := b.Status().Used; after != before-victimCells {
		t.Errorf("cells used %d after cancel, %d before, the victim held %d", after, before, victimCells)
	}
	close(resume)
	victim.End()
	if g := <-done; !slices.Equal(g.ids, want.ids) {
		t.Errorf("beside a cancelled request: %v, alone %v", g.ids, want.ids)
	}
}

// stuckAfter is a constraint that allows every token for its first n
// draws and none after: a grammar with no way on.
type stuckAfter struct{ n, vocab, drawn int }

func (c *stuckAfter) Allowed() []uint64 {
	set := make([]uint64, (c.vocab+63)/64)
	if c.drawn < c.n {
		for i := range c.vocab {
			set[i/64] |= 1 << (i % 64)
		}
	}
	return set
}

func (c *stuckAfter) Accept(int32) error { c.drawn++; return nil }
func (c *stuckAfter) Done() bool         { return false }

// TestStuckConstraint: on each executor, a request whose constraint
// comes to allow no token fails alone with sampling.ErrNoToken, after
// the draws it allowed (those of the unconstrained chain), while the
// request beside it in the same steps draws what it draws alone.
func TestStuckConstraint(t *testing.T) {
	for _, name := range archtest.Executors {
		t.Run(name, func(t *testing.T) {
			_, m, open := batchersOn(t, name)
			ps := prompts(2)
			const n, allowed = 12, 3
			want, err := drawn(t.Context(), open().NewSequence(), ps[0], n, 1)
			if err != nil {
				t.Fatal(err)
			}
			wantStuck, err := drawn(t.Context(), open().NewSequence(), ps[1], allowed, 2)
			if err != nil {
				t.Fatal(err)
			}

			b := open()
			var got generated
			var gotErr error
			var wg sync.WaitGroup
			wg.Go(func() { got, gotErr = drawn(t.Context(), b.NewSequence(), ps[0], n, 1) })
			s := b.NewSequence()
			s.Begin(t.Context(), ps[1], 0)
			defer s.End()
			p := sampling.Defaults()
			p.Seed = 2
			smp, err := sampling.New(p)
			if err != nil {
				t.Fatal(err)
			}
			smp.Constrain(&stuckAfter{n: allowed, vocab: m.Config.VocabSize})
			if err := s.Eval(ps[1], 0); err != nil {
				t.Fatal(err)
			}
			var ids []int32
			for {
				id, err := s.Sample(smp)
				if err == nil && id < 0 {
					err = smp.Err()
				}
				if err != nil {
					if !errors.Is(err, sampling.ErrNoToken) {
						t.Errorf("the stuck request's error: %v, want sampling.ErrNoToken", err)
					}
					break
				}
				ids = append(ids, id)
				if err := s.Eval([]int32{id}, len(ps[1])+len(ids)-1); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			if gotErr != nil {
				t.Fatalf("beside a stuck request: %v", gotErr)
			}
			if !slices.Equal(ids, wantStuck.ids) {
				t.Errorf("the stuck request drew %v before it stuck, unconstrained %v", ids, wantStuck.ids)
			}
			if !slices.Equal(got.ids, want.ids) {
				t.Errorf("beside a stuck request: %v, alone %v", got.ids, want.ids)
			}
		})
	}
}
