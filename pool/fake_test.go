package pool

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

const mb = 1 << 20

// fakeLoader opens fake instances; needs default to 100 MiB of weights and
// 10 MiB of KV cache on device "cpu0".
type fakeLoader struct {
	mu       sync.Mutex
	needs    map[string]Need
	failOpen map[string]error
	opens    map[string]int
	closes   map[string]int
	nextID   int
	// staleBelow: instances of a model with a lower id report themselves
	// stale.
	staleBelow map[string]int
	gate       chan struct{} // when set, Open waits for it
	release    chan struct{} // "block" requests wait for it (or their ctx)
	started    chan string   // "block" requests report here
}

func newFakeLoader() *fakeLoader {
	return &fakeLoader{needs: map[string]Need{}, failOpen: map[string]error{}, opens: map[string]int{},
		closes: map[string]int{}, staleBelow: map[string]int{}, release: make(chan struct{}), started: make(chan string, 100)}
}

func (l *fakeLoader) Need(name string) (Need, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "missing" {
		return Need{}, errors.New("no such model file")
	}
	if n, ok := l.needs[name]; ok {
		return n, nil
	}
	return Need{Backend: "cpu", Device: "cpu0", Weights: 100 * mb, KVCache: 8 * mb, Scratch: 2 * mb}, nil
}

func (l *fakeLoader) open(name string) (*fakeInst, error) {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.failOpen[name]; err != nil {
		return nil, err
	}
	l.opens[name]++
	l.nextID++
	return &fakeInst{l: l, name: name, id: l.nextID}, nil
}

func (l *fakeLoader) count(m map[string]int, name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[name]
}

func (l *fakeLoader) set(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

type genLoader struct{ *fakeLoader }

func (l genLoader) Open(_ context.Context, name string) (Generator, error) {
	inst, err := l.open(name)
	if err != nil {
		return nil, err
	}
	return inst, nil
}

type embLoader struct{ *fakeLoader }

func (l embLoader) Open(_ context.Context, name string) (Embedder, error) {
	inst, err := l.open(name)
	if err != nil {
		return nil, err
	}
	return inst, nil
}

type fakeInst struct {
	l      *fakeLoader
	name   string
	id     int
	mu     sync.Mutex
	closed bool
}

// Stale implements Staler.
func (f *fakeInst) Stale() error {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if f.id < f.l.staleBelow[f.name] {
		return fmt.Errorf("%s#%d: source changed", f.name, f.id)
	}
	return nil
}

// Generate acts on the prompt: "block" waits for the loader's release or
// ctx, "panic" panics, anything else answers "name#id:prompt".
func (f *fakeInst) Generate(ctx context.Context, req engine.Request, emit func(engine.Chunk) error) (engine.Result, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return engine.Result{}, errors.New("generate on a closed instance")
	}
	switch req.Prompt {
	case "block":
		f.l.started <- f.name
		select {
		case <-f.l.release:
		case <-ctx.Done():
			return engine.Result{StopReason: engine.StopCancelled}, ctx.Err()
		}
	case "panic":
		panic("boom")
	}
	if err := emit(engine.Chunk{Text: fmt.Sprintf("%s#%d:%s", f.name, f.id, req.Prompt), Tokens: []int32{1}}); err != nil {
		return engine.Result{StopReason: engine.StopCancelled}, err
	}
	return engine.Result{StopReason: engine.StopEOG, GeneratedTokens: 1}, nil
}

// Embed gives each text the vector (its length, the instance's id) and
// its length as its token count; a batch led by "short" misses its last.
func (f *fakeInst) Embed(_ context.Context, texts []string) (model.Embeddings, error) {
	out := model.Embeddings{Vectors: make([][]float32, len(texts)), Tokens: make([]int, len(texts))}
	for i, t := range texts {
		out.Vectors[i] = []float32{float32(len(t)), float32(f.id)}
		out.Tokens[i] = len(t)
	}
	if len(texts) > 0 && texts[0] == "short" {
		out.Vectors, out.Tokens = out.Vectors[:len(texts)-1], out.Tokens[:len(texts)-1]
	}
	return out, nil
}

func (f *fakeInst) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.l.mu.Lock()
	f.l.closes[f.name]++
	f.l.mu.Unlock()
	return nil
}

// fakeClock fires timers only when advanced.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves time on and runs the timers that fall due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

// eventually polls cond for up to 5s: for effects of worker goroutines
// (closing an instance) that follow a result the test already has.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
