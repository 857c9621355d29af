package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/sampling"
)

func newText(l *fakeLoader, cfg Config) *TextToText {
	return NewTextToText(genLoader{l}, cfg)
}

func gen(p *TextToText, ctx context.Context, name, prompt string) (string, engine.Result, error) {
	var b strings.Builder
	res, err := p.Generate(ctx, name, engine.Request{Prompt: prompt, Params: sampling.Greedy()}, func(c engine.Chunk) error {
		b.WriteString(c.Text)
		return nil
	})
	return b.String(), res, err
}

// background starts a request and returns its outcome channel.
func background(p *TextToText, ctx context.Context, name, prompt string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, _, err := gen(p, ctx, name, prompt)
		ch <- err
	}()
	return ch
}

func modelStatus(p *TextToText, name string) (ModelStatus, bool) {
	for _, m := range p.Status().Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelStatus{}, false
}

func shutdown(t *testing.T, p interface{ Shutdown(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestGenerateReusesWorker(t *testing.T) {
	l := newFakeLoader()
	clock := newFakeClock()
	p := newText(l, Config{KeepAlive: time.Minute, Clock: clock, Budget: NewBudget(1000*mb, nil)})
	defer shutdown(t, p)
	for i, want := range []string{"a#1:x", "a#1:y"} {
		text, res, err := gen(p, context.Background(), "a", want[len(want)-1:])
		if err != nil || text != want || res.StopReason != engine.StopEOG {
			t.Fatalf("request %d: %q %v %v, want %q", i, text, res.StopReason, err, want)
		}
	}
	if n := l.count(l.opens, "a"); n != 1 {
		t.Errorf("opened %d times, want 1", n)
	}
	st := p.Status()
	if st.Capability != "text-to-text" || len(st.Models) != 1 {
		t.Fatalf("status %+v", st)
	}
	m := st.Models[0]
	if m.Name != "a" || m.Backend != "cpu" || m.Device != "cpu0" || m.Memory != 110*mb || len(m.Workers) != 1 ||
		m.Workers[0].Served != 2 || m.Workers[0].State != "ready" || !m.LastUse.Equal(clock.Now()) || m.Breaker.State != "closed" {
		t.Errorf("model status %+v", m)
	}
	if mem := st.Memory; len(mem) != 1 || mem[0] != (DeviceMemory{"cpu0", 110 * mb, 1000 * mb}) {
		t.Errorf("memory %+v", mem)
	}
}

func TestErrorsOnBadNames(t *testing.T) {
	p := newText(newFakeLoader(), Config{})
	defer shutdown(t, p)
	if _, _, err := gen(p, context.Background(), "missing", "x"); err == nil || !strings.Contains(err.Error(), "model missing: no such model file") {
		t.Errorf("unknown model: %v", err)
	}
	if _, _, err := gen(p, context.Background(), "", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Run("zero unloads at once", func(t *testing.T) {
		l := newFakeLoader()
		budget := NewBudget(0, nil)
		p := newText(l, Config{KeepAlive: 0, Budget: budget})
		defer shutdown(t, p)
		for i := 1; i <= 2; i++ {
			if _, _, err := gen(p, context.Background(), "a", "x"); err != nil {
				t.Fatal(err)
			}
			if _, ok := modelStatus(p, "a"); ok {
				t.Errorf("request %d: model still listed after its request", i)
			}
			eventually(t, "instance closed", func() bool { return l.count(l.closes, "a") == i })
		}
		if n := l.count(l.opens, "a"); n != 2 {
			t.Errorf("opened %d times, want 2", n)
		}
		if mem := budget.Snapshot(); len(mem) != 1 || mem[0].Used != 0 {
			t.Errorf("memory after unload %+v", mem)
		}
	})
	t.Run("duration", func(t *testing.T) {
		l := newFakeLoader()
		clock := newFakeClock()
		p := newText(l, Config{KeepAlive: 50 * time.Millisecond, Clock: clock})
		defer shutdown(t, p)
		gen(p, context.Background(), "a", "x")
		clock.Advance(49 * time.Millisecond)
		gen(p, context.Background(), "a", "x") // resets the countdown
		clock.Advance(49 * time.Millisecond)
		if _, ok := modelStatus(p, "a"); !ok {
			t.Fatal("unloaded before its keep-alive")
		}
		clock.Advance(time.Millisecond)
		if _, ok := modelStatus(p, "a"); ok {
			t.Fatal("still loaded after its keep-alive")
		}
		eventually(t, "instance closed", func() bool { return l.count(l.closes, "a") == 1 })
	})
	t.Run("per request", func(t *testing.T) {
		l := newFakeLoader()
		clock := newFakeClock()
		p := newText(l, Config{KeepAlive: 50 * time.Millisecond, Clock: clock})
		defer shutdown(t, p)
		// A request's own keep-alive replaces the pool's ...
		gen(p, WithKeepAlive(context.Background(), time.Second), "a", "x")
		clock.Advance(999 * time.Millisecond)
		if _, ok := modelStatus(p, "a"); !ok {
			t.Fatal("unloaded before the request's keep-alive")
		}
		// ... and the next request's, here the pool's again.
		gen(p, context.Background(), "a", "x")
		clock.Advance(50 * time.Millisecond)
		if _, ok := modelStatus(p, "a"); ok {
			t.Fatal("still loaded after the pool's keep-alive")
		}
		// 0 unloads once served; negative keeps it.
		gen(p, WithKeepAlive(context.Background(), 0), "a", "x")
		if _, ok := modelStatus(p, "a"); ok {
			t.Error("keep-alive 0: still loaded after the request")
		}
		gen(p, WithKeepAlive(context.Background(), -1), "a", "x")
		clock.Advance(time.Hour)
		if _, ok := modelStatus(p, "a"); !ok {
			t.Error("negative keep-alive: unloaded")
		}
	})
	t.Run("busy model is not unloaded", func(t *testing.T) {
		l := newFakeLoader()
		clock := newFakeClock()
		p := newText(l, Config{KeepAlive: 50 * time.Millisecond, Clock: clock, Parallel: 2})
		defer shutdown(t, p)
		gen(p, context.Background(), "a", "x")
		done := background(p, context.Background(), "a", "block")
		<-l.started
		clock.Advance(time.Hour)
		if _, ok := modelStatus(p, "a"); !ok {
			t.Fatal("unloaded while serving")
		}
		l.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("negative never unloads", func(t *testing.T) {
		l := newFakeLoader()
		clock := newFakeClock()
		p := newText(l, Config{KeepAlive: -1, Clock: clock})
		defer shutdown(t, p)
		gen(p, context.Background(), "a", "x")
		clock.Advance(1000 * time.Hour)
		if _, ok := modelStatus(p, "a"); !ok {
			t.Fatal("unloaded with negative keep-alive")
		}
	})
}

func TestMemoryBudget(t *testing.T) {
	l := newFakeLoader()
	clock := newFakeClock()
	budget := NewBudget(250*mb, nil)
	p := newText(l, Config{KeepAlive: -1, Clock: clock, Budget: budget})
	defer shutdown(t, p)
	gen(p, context.Background(), "a", "x")
	clock.Advance(time.Second)
	gen(p, context.Background(), "b", "x")
	clock.Advance(time.Second)
	// c does not fit beside a and b: the least recently used, a, goes.
	if _, _, err := gen(p, context.Background(), "c", "x"); err != nil {
		t.Fatalf("c: %v", err)
	}
	if _, ok := modelStatus(p, "a"); ok {
		t.Error("a still loaded after eviction")
	}
	eventually(t, "a closed", func() bool { return l.count(l.closes, "a") == 1 })
	if l.count(l.closes, "b") != 0 {
		t.Error("b evicted instead of a")
	}
	// With b busy and c the only idle model, loading a evicts c.
	clock.Advance(time.Second)
	done := background(p, context.Background(), "b", "block")
	<-l.started
	if _, _, err := gen(p, context.Background(), "a", "x"); err != nil {
		t.Fatalf("a again: %v", err)
	}
	if _, ok := modelStatus(p, "c"); ok {
		t.Error("c still loaded")
	}
	// A model that cannot fit even if idle a goes is refused, naming need
	// and free memory, and nothing is evicted for it.
	l.set(func() { l.needs["huge"] = Need{Backend: "cpu", Device: "cpu0", Weights: 200 * mb, KVCache: 20 * mb} })
	_, _, err := gen(p, context.Background(), "huge", "x")
	want := "huge needs 220.0 MiB on cpu cpu0, 30.0 MiB free (budget 250.0 MiB, idle models hold 110.0 MiB)"
	if !errors.Is(err, ErrNoMemory) || !strings.Contains(err.Error(), want) {
		t.Errorf("huge: %v, want ErrNoMemory with %q", err, want)
	}
	for _, name := range []string{"a", "b"} {
		if _, ok := modelStatus(p, name); !ok {
			t.Errorf("%s was evicted for a model that cannot fit", name)
		}
	}
	if m, ok := modelStatus(p, "huge"); ok {
		t.Errorf("refused model listed: %+v", m)
	}
	l.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A model on another device does not compete for cpu0's budget.
	l.set(func() { l.needs["gpu"] = Need{Backend: "vulkan", Device: "gpu0", Weights: 200 * mb} })
	if _, _, err := gen(p, context.Background(), "gpu", "x"); err != nil {
		t.Errorf("gpu model: %v", err)
	}
	if mem := budget.Snapshot(); len(mem) != 2 || mem[0] != (DeviceMemory{"cpu0", 220 * mb, 250 * mb}) || mem[1] != (DeviceMemory{"gpu0", 200 * mb, 250 * mb}) {
		t.Errorf("memory %+v", mem)
	}
}

func TestSharedBudgetAndWeightsOnce(t *testing.T) {
	l := newFakeLoader()
	budget := NewBudget(0, map[string]uint64{"cpu0": 1000 * mb})
	p := newText(l, Config{KeepAlive: -1, Budget: budget, Parallel: 2})
	defer shutdown(t, p)
	e := NewTextEmbedding(embLoader{l}, Config{KeepAlive: -1, Budget: budget})
	defer shutdown(t, e)
	done := background(p, context.Background(), "a", "block")
	<-l.started
	gen(p, context.Background(), "a", "x") // a second worker: KV and scratch only
	if _, err := e.Embed(context.Background(), "m", []string{"s"}); err != nil {
		t.Fatal(err)
	}
	if mem := budget.Snapshot(); mem[0].Used != (110+10+110)*mb {
		t.Errorf("used %d MiB, want 230", mem[0].Used/mb)
	}
	l.release <- struct{}{}
	<-done
}

func TestRouting(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: -1, Parallel: 2})
	defer shutdown(t, p)
	first := background(p, context.Background(), "a", "block")
	<-l.started
	// Worker 1 is busy: a second worker is spawned for the next request.
	if text, _, err := gen(p, context.Background(), "a", "x"); err != nil || text != "a#2:x" {
		t.Fatalf("second request: %q %v, want a#2:x", text, err)
	}
	// Parallel is reached; idle worker 2 is the least busy.
	if text, _, _ := gen(p, context.Background(), "a", "y"); text != "a#2:y" {
		t.Errorf("third request went to %q, want worker 2", text)
	}
	second := background(p, context.Background(), "a", "block")
	<-l.started
	// Both busy with one request each: the tie goes to the first worker.
	third := background(p, context.Background(), "a", "z")
	eventually(t, "queued request", func() bool {
		m, _ := modelStatus(p, "a")
		return m.Queued == 1 && m.Running == 2
	})
	m, _ := modelStatus(p, "a")
	if len(m.Workers) != 2 || m.Workers[0].Pending != 2 || m.Workers[1].Pending != 1 || m.Workers[0].State != "busy" {
		t.Errorf("workers %+v", m.Workers)
	}
	for range 2 {
		l.release <- struct{}{}
	}
	for _, ch := range []<-chan error{first, second, third} {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
	if n := l.count(l.opens, "a"); n != 2 {
		t.Errorf("%d instances opened, want 2 (Parallel)", n)
	}
}

func TestQueueFull(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: -1, QueueSize: 2})
	defer shutdown(t, p)
	running := background(p, context.Background(), "a", "block")
	<-l.started
	queued := []<-chan error{background(p, context.Background(), "a", "q"), background(p, context.Background(), "a", "q")}
	eventually(t, "two queued", func() bool { m, _ := modelStatus(p, "a"); return m.Queued == 2 })
	_, _, err := gen(p, context.Background(), "a", "x")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "a has 3 requests queued or running (limit 3)") {
		t.Errorf("fourth request: %v, want ErrBusy", err)
	}
	l.release <- struct{}{}
	for _, ch := range append(queued, running) {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: -1, RequestTimeout: 30 * time.Millisecond})
	defer shutdown(t, p)
	// A running request is cancelled through its context.
	_, _, err := gen(p, context.Background(), "a", "block")
	<-l.started
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("running request: %v, want ErrTimeout wrapping DeadlineExceeded", err)
	}
	// A queued request gives up while the worker is still busy.
	l2 := newFakeLoader()
	p2 := newText(l2, Config{KeepAlive: -1})
	defer shutdown(t, p2)
	blocker := background(p2, context.Background(), "a", "block")
	<-l2.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := gen(p2, ctx, "a", "x"); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a worker") {
		t.Errorf("queued request: %v", err)
	}
	l2.release <- struct{}{}
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	// The abandoned request was skipped, not run, and the model is usable.
	eventually(t, "queue empty", func() bool { m, _ := modelStatus(p2, "a"); return m.Queued == 0 })
	if m, _ := modelStatus(p2, "a"); m.Workers[0].Served != 1 {
		t.Errorf("served %d, want 1 (the abandoned request is not run)", m.Workers[0].Served)
	}
	if text, _, err := gen(p2, context.Background(), "a", "y"); err != nil || text != "a#1:y" {
		t.Errorf("after abandon: %q %v", text, err)
	}
}

func TestPanicReplacesInstance(t *testing.T) {
	l := newFakeLoader()
	var logged []string
	var mu sync.Mutex
	p := newText(l, Config{KeepAlive: -1, Logf: func(f string, a ...any) {
		mu.Lock()
		logged = append(logged, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	defer shutdown(t, p)
	_, _, err := gen(p, context.Background(), "a", "panic")
	if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic request: %v, want ErrPanic with the value", err)
	}
	if text, _, err := gen(p, context.Background(), "a", "x"); err != nil || text != "a#2:x" {
		t.Errorf("after panic: %q %v, want a fresh instance a#2", text, err)
	}
	if l.count(l.closes, "a") != 1 {
		t.Error("the panicked instance was not closed")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "goroutine") {
		t.Errorf("panic log %q, want one entry with a stack", logged)
	}
}

// TestStaleInstanceReopened: an instance that reports itself stale is
// closed and opened again before the next request, which it then serves;
// when the reopen fails, that request gets the load error.
func TestStaleInstanceReopened(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: -1})
	defer shutdown(t, p)
	for _, tc := range []struct {
		staleBelow int
		failOpen   error
		want       string
		wantErr    string
		closes     int
	}{
		{0, nil, "a#1:x", "", 0},
		{2, nil, "a#2:x", "", 1},
		{2, nil, "a#2:x", "", 1},
		{3, errors.New("bad header"), "", "pool: load a: bad header", 2},
	} {
		l.set(func() { l.staleBelow["a"], l.failOpen["a"] = tc.staleBelow, tc.failOpen })
		text, _, err := gen(p, context.Background(), "a", "x")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("stale below %d: error %v, want %q", tc.staleBelow, err, tc.wantErr)
			}
		} else if err != nil || text != tc.want {
			t.Errorf("stale below %d: %q %v, want %q", tc.staleBelow, text, err, tc.want)
		}
		if got := l.count(l.closes, "a"); got != tc.closes {
			t.Errorf("stale below %d: %d closes, want %d", tc.staleBelow, got, tc.closes)
		}
	}
	l.set(func() { l.failOpen["a"] = nil })
	if text, _, err := gen(p, context.Background(), "a", "x"); err != nil || text != "a#3:x" {
		t.Errorf("after the failed reload: %q %v, want a fresh instance a#3", text, err)
	}
}

func TestCircuitBreaker(t *testing.T) {
	l := newFakeLoader()
	clock := newFakeClock()
	p := newText(l, Config{KeepAlive: -1, Clock: clock, BreakerThreshold: 2, BreakerBackoff: time.Minute})
	defer shutdown(t, p)
	l.set(func() { l.failOpen["a"] = errors.New("bad tensor") })
	for i := range 2 {
		if _, _, err := gen(p, context.Background(), "a", "x"); err == nil || !strings.Contains(err.Error(), "pool: load a: bad tensor") {
			t.Fatalf("load %d: %v", i, err)
		}
	}
	_, _, err := gen(p, context.Background(), "a", "x")
	if !errors.Is(err, ErrBackoff) || !strings.Contains(err.Error(), "a failed 2 times, retry after 1m0s: pool: load a: bad tensor") {
		t.Errorf("held-off request: %v", err)
	}
	m, _ := modelStatus(p, "a")
	if m.Breaker.State != "open" || m.Breaker.Failures != 2 || m.Breaker.LastError != "pool: load a: bad tensor" || !m.Breaker.RetryAt.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("breaker %+v", m.Breaker)
	}
	clock.Advance(time.Minute)
	if m, _ := modelStatus(p, "a"); m.Breaker.State != "half-open" {
		t.Errorf("after back-off: %+v", m.Breaker)
	}
	l.set(func() { delete(l.failOpen, "a") })
	if _, _, err := gen(p, context.Background(), "a", "x"); err != nil {
		t.Fatalf("after back-off: %v", err)
	}
	if m, _ := modelStatus(p, "a"); m.Breaker != (BreakerStatus{State: "closed"}) {
		t.Errorf("breaker after success %+v", m.Breaker)
	}
	// Repeated panics open the breaker too, and fail the requests queued
	// behind the last one.
	for range 2 {
		gen(p, context.Background(), "a", "panic")
	}
	if _, _, err := gen(p, context.Background(), "a", "x"); !errors.Is(err, ErrBackoff) {
		t.Errorf("after two panics: %v, want ErrBackoff", err)
	}
}

func TestLoadFailureFailsQueuedRequests(t *testing.T) {
	l := newFakeLoader()
	gate := make(chan struct{})
	l.set(func() { l.gate = gate; l.failOpen["a"] = errors.New("truncated file") })
	p := newText(l, Config{KeepAlive: -1})
	defer shutdown(t, p)
	var chans []<-chan error
	for range 3 {
		chans = append(chans, background(p, context.Background(), "a", "x"))
	}
	eventually(t, "three queued", func() bool {
		m, _ := modelStatus(p, "a")
		return m.Queued == 3 && m.Workers[0].State == "loading"
	})
	close(gate)
	for _, ch := range chans {
		if err := <-ch; err == nil || !strings.Contains(err.Error(), "truncated file") {
			t.Errorf("queued request: %v, want the load error", err)
		}
	}
}

func TestLoadUnload(t *testing.T) {
	l := newFakeLoader()
	budget := NewBudget(0, nil)
	p := newText(l, Config{KeepAlive: -1, Budget: budget})
	defer shutdown(t, p)
	ctx := context.Background()
	if err := p.Load(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if m, ok := modelStatus(p, "a"); !ok || m.Workers[0].State != "ready" {
		t.Fatalf("after Load: %+v", m)
	}
	// Unload waits for the running request.
	done := background(p, ctx, "a", "block")
	<-l.started
	unloaded := make(chan error, 1)
	go func() { unloaded <- p.Unload(ctx, "a") }()
	eventually(t, "unlisted", func() bool { _, ok := modelStatus(p, "a"); return !ok })
	select {
	case err := <-unloaded:
		t.Fatalf("Unload returned %v while a request runs", err)
	default:
	}
	l.release <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("request during unload: %v", err)
	}
	if err := <-unloaded; err != nil {
		t.Fatal(err)
	}
	if l.count(l.closes, "a") != 1 || budget.Snapshot()[0].Used != 0 {
		t.Errorf("after Unload: %d closes, memory %+v", l.count(l.closes, "a"), budget.Snapshot())
	}
	if err := p.Unload(ctx, "a"); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("second Unload: %v", err)
	}
	l.set(func() { l.failOpen["b"] = errors.New("nope") })
	if err := p.Load(ctx, "b"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Load of a failing model: %v", err)
	}
}

func TestLoadDuration(t *testing.T) {
	l := newFakeLoader()
	clock := newFakeClock()
	gate := make(chan struct{})
	l.set(func() { l.gate = gate })
	p := newText(l, Config{KeepAlive: -1, Clock: clock})
	defer shutdown(t, p)
	type out struct {
		res engine.Result
		err error
	}
	ch := make(chan out, 1)
	go func() { _, res, err := gen(p, context.Background(), "a", "x"); ch <- out{res, err} }()
	eventually(t, "loading", func() bool { m, _ := modelStatus(p, "a"); return len(m.Workers) == 1 })
	clock.Advance(3 * time.Second)
	close(gate)
	o := <-ch
	if o.err != nil || o.res.LoadDuration != 3*time.Second {
		t.Errorf("first request: load %v, %v; want 3s", o.res.LoadDuration, o.err)
	}
	if _, res, _ := gen(p, context.Background(), "a", "x"); res.LoadDuration != 0 {
		t.Errorf("second request: load %v, want 0", res.LoadDuration)
	}
}

func TestShutdown(t *testing.T) {
	t.Run("drains", func(t *testing.T) {
		l := newFakeLoader()
		p := newText(l, Config{KeepAlive: -1})
		running := background(p, context.Background(), "a", "block")
		<-l.started
		queued := background(p, context.Background(), "a", "x")
		eventually(t, "queued", func() bool { m, _ := modelStatus(p, "a"); return m.Queued == 1 })
		stopped := make(chan error, 1)
		go func() { stopped <- p.Shutdown(context.Background()) }()
		eventually(t, "closed", func() bool { return p.Status().Closed })
		if _, _, err := gen(p, context.Background(), "a", "x"); !errors.Is(err, ErrClosed) {
			t.Errorf("request during shutdown: %v", err)
		}
		l.release <- struct{}{}
		for _, ch := range []<-chan error{running, queued, stopped} {
			if err := <-ch; err != nil {
				t.Error(err)
			}
		}
		if l.count(l.closes, "a") != 1 {
			t.Error("instance not closed")
		}
	})
	t.Run("deadline cancels", func(t *testing.T) {
		l := newFakeLoader()
		p := newText(l, Config{KeepAlive: -1})
		running := background(p, context.Background(), "a", "block")
		<-l.started
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-running; !errors.Is(err, ErrClosed) {
			t.Errorf("running request: %v, want ErrClosed", err)
		}
		eventually(t, "instance closed", func() bool { return l.count(l.closes, "a") == 1 })
	})
}

func TestStream(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: -1})
	defer shutdown(t, p)
	var evs []Event
	for ev := range p.Stream(context.Background(), "a", engine.Request{Prompt: "x", Params: sampling.Greedy()}) {
		evs = append(evs, ev)
	}
	if len(evs) != 2 || evs[0].Chunk.Text != "a#1:x" || !evs[1].Done || evs[1].Err != nil || evs[1].Result.StopReason != engine.StopEOG {
		t.Errorf("events %+v", evs)
	}
	evs = nil
	for ev := range p.Stream(context.Background(), "missing", engine.Request{Prompt: "x", Params: sampling.Greedy()}) {
		evs = append(evs, ev)
	}
	if len(evs) != 1 || !evs[0].Done || evs[0].Err == nil {
		t.Errorf("error stream %+v", evs)
	}
	// A consumer that cancels mid-stream frees the worker.
	ctx, cancel := context.WithCancel(context.Background())
	ch := p.Stream(ctx, "a", engine.Request{Prompt: "block", Params: sampling.Greedy()})
	<-l.started
	cancel()
	for range ch {
	}
	if text, _, err := gen(p, context.Background(), "a", "y"); err != nil || text != "a#1:y" {
		t.Errorf("after cancelled stream: %q %v", text, err)
	}
}

func TestEmbedding(t *testing.T) {
	l := newFakeLoader()
	e := NewTextEmbedding(embLoader{l}, Config{KeepAlive: -1})
	defer shutdown(t, e)
	out, err := e.Embed(context.Background(), "m", []string{"ab", "abcd"})
	if err != nil || len(out.Vectors) != 2 || out.Vectors[0][0] != 2 || out.Vectors[1][0] != 4 || !slices.Equal(out.Tokens, []int{2, 4}) || out.TotalTokens() != 6 {
		t.Errorf("Embed: %+v %v", out, err)
	}
	if _, err := e.Embed(context.Background(), "m", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no texts: %v", err)
	}
	if _, err := e.Embed(context.Background(), "m", []string{"short", "x"}); err == nil || !strings.Contains(err.Error(), "returned 1 embeddings and 1 token counts for 2 texts") {
		t.Errorf("short answer: %v", err)
	}
	if st := e.Status(); st.Capability != "embedding" || len(st.Models) != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestConcurrentRequests(t *testing.T) {
	l := newFakeLoader()
	p := newText(l, Config{KeepAlive: 0, Parallel: 3, QueueSize: 100, Budget: NewBudget(500*mb, nil)})
	defer shutdown(t, p)
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"a", "b", "c"}[i%3]
			text, _, err := gen(p, context.Background(), name, "x")
			if err == nil && !strings.HasPrefix(text, name+"#") {
				err = fmt.Errorf("%s answered %q", name, text)
			}
			if err != nil && !errors.Is(err, ErrNoMemory) {
				errs <- err
			}
		}()
		if i%10 == 0 {
			go p.Status()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
