package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Instance is one loaded model instance a worker owns.
type Instance interface {
	// Close frees the instance. The pool calls it once, from the worker.
	Close() error
}

// Staler is an Instance that can tell it no longer matches its source
// (say, its model file changed on disk). Before each request the pool asks
// it, and a stale instance is closed and opened again first.
type Staler interface {
	Stale() error
}

// Loader opens model instances by name. The daemon supplies it.
type Loader[I Instance] interface {
	// Need reports the memory an instance of the model takes, without
	// loading it (from file metadata), or an error for an unknown model.
	Need(name string) (Need, error)
	// Open loads one instance of the model. The pool calls it once per
	// worker; a loader that shares weights between instances of a model
	// should free them when the last instance closes (the budget charges
	// Need.Weights once per model with any instance).
	Open(ctx context.Context, name string) (I, error)
}

// Defaults applied by New to zero Config fields.
const (
	DefaultQueueSize        = 16
	DefaultBreakerThreshold = 3
	DefaultBreakerBackoff   = 30 * time.Second
	// DefaultKeepAlive is a sensible Config.KeepAlive for a daemon; New does
	// not apply it, since 0 means "unload at once".
	DefaultKeepAlive = 5 * time.Minute
)

// Config configures a Pool.
type Config struct {
	// Capability names the pool in Status ("text-to-text", "embedding").
	Capability string
	// Budget is the memory budget, shareable between pools; nil means
	// unlimited.
	Budget *Budget
	// Parallel is the most workers per model (default 1).
	Parallel int
	// QueueSize is how many requests per model may wait beyond those
	// running (default DefaultQueueSize); more get ErrBusy.
	QueueSize int
	// RequestTimeout bounds each request, queueing and loading included;
	// 0 means no bound.
	RequestTimeout time.Duration
	// KeepAlive is how long a model stays loaded without requests: 0
	// unloads it right after its last request, negative never.
	KeepAlive time.Duration
	// BreakerThreshold consecutive failures (failed loads or panics) hold
	// a model off for BreakerBackoff (defaults 3 and 30s).
	BreakerThreshold int
	BreakerBackoff   time.Duration
	// Clock is the time source (default the real clock).
	Clock Clock
	// Logf, when set, receives panics with their stack.
	Logf func(format string, args ...any)
}

// Pool routes requests for named models to workers owning instances I.
// It is safe for concurrent use.
type Pool[I Instance] struct {
	cfg    Config
	loader Loader[I]
	clock  Clock
	budget *Budget

	// kill cancels running requests when Shutdown's context expires.
	killCtx context.Context
	kill    context.CancelFunc

	mu       sync.Mutex
	closed   bool
	models   map[string]*modelState[I]
	stopping map[*worker[I]]struct{} // stopped but not yet exited
	nextID   int
}

// modelState is what the pool knows about one model name. Guarded by
// Pool.mu.
type modelState[I Instance] struct {
	name      string
	need      Need
	workers   []*worker[I] // routable workers
	instances int          // workers holding memory, stopping ones included
	lastUse   time.Time
	idleGen   uint64 // bumped to invalidate pending keep-alive timers
	stopIdle  func() bool
	// keepAlive is the keep-alive the latest request asked for
	// (WithKeepAlive); nil is the pool's.
	keepAlive *time.Duration
	// circuit breaker
	failures int
	lastErr  error
	retryAt  time.Time
}

// New returns a pool opening instances with loader.
func New[I Instance](loader Loader[I], cfg Config) *Pool[I] {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.BreakerThreshold <= 0 {
		cfg.BreakerThreshold = DefaultBreakerThreshold
	}
	if cfg.BreakerBackoff <= 0 {
		cfg.BreakerBackoff = DefaultBreakerBackoff
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	budget := cfg.Budget
	if budget == nil {
		budget = NewBudget(0, nil)
	}
	p := &Pool[I]{cfg: cfg, loader: loader, clock: cfg.Clock, budget: budget,
		models: make(map[string]*modelState[I]), stopping: make(map[*worker[I]]struct{})}
	p.killCtx, p.kill = context.WithCancel(context.Background())
	return p
}

// Do runs fn on an instance of model name, loading it if needed, and
// returns fn's error or the pool's reason for not running it. fn's context
// ends when ctx does, at the request timeout, or at a forced shutdown.
// A request still queued returns as soon as ctx ends; a running one
// returns when fn does.
func (p *Pool[I]) Do(ctx context.Context, name string, fn func(ctx context.Context, inst I) error) error {
	_, err := p.do(ctx, name, fn)
	return err
}

// do is Do, also returning how long the request waited for its worker to
// load (zero when the model was loaded already).
func (p *Pool[I]) do(ctx context.Context, name string, fn func(context.Context, I) error) (time.Duration, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: empty model name", ErrInvalid)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d := p.cfg.RequestTimeout; d > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w after %v", ErrTimeout, d))
		defer stop()
	}
	defer context.AfterFunc(p.killCtx, func() { cancel(fmt.Errorf("%w: request stopped", ErrClosed)) })()

	j := &job[I]{ctx: ctx, fn: fn, result: make(chan error, 1)}
	if err := p.route(name, j); err != nil {
		return 0, err
	}
	select {
	case err := <-j.result:
		return j.loadWait, p.explain(ctx, err)
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return 0, fmt.Errorf("pool: %s: waiting for a worker: %w", name, context.Cause(ctx))
		}
		err := <-j.result
		return j.loadWait, p.explain(ctx, err)
	}
}

// explain adds the pool's cause (timeout, shutdown) to an error that came
// from the context ending.
func (p *Pool[I]) explain(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrTimeout) || errors.Is(cause, ErrClosed) {
		if !errors.Is(err, cause) {
			return fmt.Errorf("%w: %w", cause, err)
		}
	}
	return err
}

// route queues j on the least busy worker of model name, spawning one if
// the model has none or all are busy and Parallel allows another.
func (p *Pool[I]) route(name string, j *job[I]) error {
	m, err := p.model(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	defer func() {
		m := p.models[name]
		if m == nil {
			return
		}
		m.keepAlive = nil
		if d, ok := keepAliveOf(j.ctx); ok {
			m.keepAlive = &d
		}
	}()
	if cur := p.models[name]; cur != m {
		// The model was dropped meanwhile (it went idle and unloaded), and
		// maybe created again by another request.
		if cur == nil {
			cur = &modelState[I]{name: name, need: m.need}
			p.models[name] = cur
		}
		m = cur
	}
	now := p.clock.Now()
	if m.failures >= p.cfg.BreakerThreshold && now.Before(m.retryAt) {
		return fmt.Errorf("%w: %s failed %d times, retry after %s: %v",
			ErrBackoff, name, m.failures, m.retryAt.Sub(now).Round(time.Millisecond), m.lastErr)
	}
	pending := 0
	var w *worker[I]
	for _, x := range m.workers {
		pending += x.pending
		if w == nil || x.pending < w.pending {
			w = x
		}
	}
	if pending >= p.cfg.Parallel+p.cfg.QueueSize {
		return fmt.Errorf("%w: %s has %d requests queued or running (limit %d)", ErrBusy, name, pending, p.cfg.Parallel+p.cfg.QueueSize)
	}
	if w == nil || (w.pending > 0 && len(m.workers) < p.cfg.Parallel) {
		nw, err := p.spawn(m)
		switch {
		case err == nil:
			w = nw
		case w == nil:
			p.forget(m)
			return err
		}
	}
	m.idleGen++
	if m.stopIdle != nil {
		m.stopIdle()
		m.stopIdle = nil
	}
	w.pending++
	j.duringLoad = w.state == stateLoading
	w.jobs <- j // never blocks: the channel holds Parallel+QueueSize jobs
	return nil
}

// model returns the state for name, creating it (asking the loader for
// its memory need) when the pool has none.
func (p *Pool[I]) model(name string) (*modelState[I], error) {
	p.mu.Lock()
	m := p.models[name]
	p.mu.Unlock()
	if m != nil {
		return m, nil
	}
	need, err := p.loader.Need(name)
	if err != nil {
		return nil, fmt.Errorf("pool: model %s: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m = p.models[name]; m == nil {
		m = &modelState[I]{name: name, need: need}
		p.models[name] = m
	}
	return m, nil
}

// spawn reserves memory for a new worker of m, evicting idle models if
// needed, and starts it. Called with p.mu held.
func (p *Pool[I]) spawn(m *modelState[I]) (*worker[I], error) {
	charge := m.need.Instance()
	if m.instances == 0 {
		charge += m.need.Weights
	}
	dev := m.need.Device
	for first := true; ; first = false {
		ok, free := p.budget.reserve(dev, charge)
		if ok {
			break
		}
		// Evict nothing unless evicting makes enough room.
		idle := p.idleMemory(m)
		if first && free+idle < charge {
			return nil, fmt.Errorf("%w: %s needs %s on %s, %s free (budget %s, idle models hold %s)",
				ErrNoMemory, m.name, mib(charge), deviceName(m.need), mib(free), mib(p.budget.limitOf(dev)), mib(idle))
		}
		victim := p.lruIdle(m)
		if victim == nil {
			return nil, fmt.Errorf("%w: %s needs %s on %s, %s free", ErrNoMemory, m.name, mib(charge), deviceName(m.need), mib(free))
		}
		p.stopModel(victim)
	}
	p.nextID++
	w := &worker[I]{id: p.nextID, m: m, state: stateLoading,
		jobs: make(chan *job[I], p.cfg.Parallel+p.cfg.QueueSize), done: make(chan struct{})}
	m.workers = append(m.workers, w)
	m.instances++
	// The new instance loads only once the memory of stopped workers is
	// really free.
	var wait []chan struct{}
	for s := range p.stopping {
		wait = append(wait, s.done)
	}
	go p.runWorker(w, wait)
	return w, nil
}

func deviceName(n Need) string {
	if n.Device == "" {
		return n.Backend
	}
	return n.Backend + " " + n.Device
}

// lruIdle returns the least recently used model with workers on the same
// device as m, none of them loading or busy, other than m. p.mu held.
func (p *Pool[I]) lruIdle(m *modelState[I]) *modelState[I] {
	var best *modelState[I]
	for _, x := range p.models {
		if x == m || len(x.workers) == 0 || x.need.Device != m.need.Device || !x.idle() {
			continue
		}
		if best == nil || x.lastUse.Before(best.lastUse) {
			best = x
		}
	}
	return best
}

// idleMemory returns the memory held by idle models other than m on m's
// device. p.mu held.
func (p *Pool[I]) idleMemory(m *modelState[I]) uint64 {
	var n uint64
	for _, x := range p.models {
		if x != m && len(x.workers) > 0 && x.need.Device == m.need.Device && x.idle() {
			n += x.charged()
		}
	}
	return n
}

// charged returns the memory m's workers hold in the budget.
func (m *modelState[I]) charged() uint64 {
	if len(m.workers) == 0 {
		return 0
	}
	return m.need.Weights + uint64(len(m.workers))*m.need.Instance()
}

// idle reports whether no worker of m is loading or has requests.
func (m *modelState[I]) idle() bool {
	for _, w := range m.workers {
		if w.pending > 0 || w.state == stateLoading {
			return false
		}
	}
	return true
}

// stopModel stops all workers of m; they finish their queued requests and
// exit. p.mu held.
func (p *Pool[I]) stopModel(m *modelState[I]) {
	for _, w := range slices.Clone(m.workers) {
		p.stopWorker(w)
	}
}

// stopWorker takes w out of routing, closes its queue and releases its
// memory charge. p.mu held.
func (p *Pool[I]) stopWorker(w *worker[I]) {
	m := w.m
	i := slices.Index(m.workers, w)
	if i < 0 {
		return
	}
	m.workers = slices.Delete(m.workers, i, i+1)
	w.state = stateStopping
	close(w.jobs)
	p.stopping[w] = struct{}{}
	m.instances--
	charge := m.need.Instance()
	if m.instances == 0 {
		charge += m.need.Weights // the weights go with the last instance
	}
	p.budget.release(m.need.Device, charge)
	p.forget(m)
}

// forget drops a model with no workers and no breaker record. p.mu held.
func (p *Pool[I]) forget(m *modelState[I]) {
	if len(m.workers) == 0 && m.instances == 0 && m.failures == 0 && p.models[m.name] == m {
		delete(p.models, m.name)
	}
}
