package pool

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Worker states.
const (
	stateLoading  = "loading"
	stateReady    = "ready"
	stateStopping = "stopping"
)

// worker is one goroutine owning one instance. Fields other than jobs and
// done are guarded by Pool.mu.
type worker[I Instance] struct {
	id       int
	m        *modelState[I]
	jobs     chan *job[I]
	done     chan struct{} // closed when the goroutine has exited
	state    string
	pending  int // queued or running requests
	running  bool
	lastUse  time.Time
	served   uint64
	loadTime time.Duration
}

// Job states, moved by compare-and-swap between the caller and the worker.
const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

type job[I Instance] struct {
	ctx        context.Context
	fn         func(context.Context, I) error
	result     chan error // buffered: the worker never blocks on it
	state      atomic.Int32
	duringLoad bool          // queued while the worker was loading
	loadWait   time.Duration // set before result is sent
}

// runWorker is a worker's goroutine: it waits for the memory of stopped
// workers, opens an instance, serves its queue until the queue is closed,
// then closes the instance.
func (p *Pool[I]) runWorker(w *worker[I], wait []chan struct{}) {
	defer func() {
		p.mu.Lock()
		delete(p.stopping, w)
		p.mu.Unlock()
		close(w.done)
	}()
	for _, c := range wait {
		<-c
	}
	inst, err := p.open(w)
	if err != nil {
		return
	}
	for j := range w.jobs {
		if !j.state.CompareAndSwap(jobQueued, jobRunning) {
			p.finished(w, false, false)
			continue
		}
		if inst, err = p.fresh(w, inst); err != nil {
			j.result <- err
			return
		}
		if j.duringLoad {
			j.loadWait = w.loadTime
		}
		p.mu.Lock()
		w.running = true
		p.mu.Unlock()
		err, panicked := p.call(w, inst, j)
		broken := p.finished(w, true, panicked)
		j.result <- err
		if panicked {
			// Replace the instance: its state may be corrupt.
			p.closeInstance(w, inst)
			if broken != nil {
				p.drain(w, broken)
				return
			}
			if inst, err = p.open(w); err != nil {
				return
			}
		}
	}
	p.closeInstance(w, inst)
}

// open loads w's instance. On failure it records a breaker failure, stops
// w and fails every queued request with the load error, which it returns.
func (p *Pool[I]) open(w *worker[I]) (inst I, err error) {
	start := p.clock.Now()
	inst, err = p.safeOpen(w.m.name)
	p.mu.Lock()
	if err == nil {
		w.loadTime = p.clock.Now().Sub(start)
		if w.state == stateLoading {
			w.state = stateReady
		}
		p.mu.Unlock()
		return inst, nil
	}
	err = fmt.Errorf("pool: load %s: %w", w.m.name, err)
	p.fail(w.m, err)
	p.stopWorker(w)
	p.mu.Unlock()
	p.drain(w, err)
	return inst, err
}

// fresh returns inst, or a newly opened instance when inst is a Staler
// that reports itself stale. A failed reopen has stopped w (see open); the
// request in hand gets its error, counted as finished.
func (p *Pool[I]) fresh(w *worker[I], inst I) (I, error) {
	s, ok := any(inst).(Staler)
	if !ok {
		return inst, nil
	}
	stale := s.Stale()
	if stale == nil {
		return inst, nil
	}
	if p.cfg.Logf != nil {
		p.cfg.Logf("pool: %s: %v; reloading", w.m.name, stale)
	}
	p.closeInstance(w, inst)
	inst, err := p.open(w)
	if err != nil {
		p.finished(w, false, false)
	}
	return inst, err
}

// drain fails every request left in the (closed) queue of w with err.
func (p *Pool[I]) drain(w *worker[I], err error) {
	for j := range w.jobs {
		if j.state.CompareAndSwap(jobQueued, jobRunning) {
			j.result <- err
		}
	}
}

func (p *Pool[I]) safeOpen(name string) (inst I, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.panicError("open", name, r)
		}
	}()
	return p.loader.Open(p.killCtx, name)
}

// call runs the request, turning a panic into its error.
func (p *Pool[I]) call(w *worker[I], inst I, j *job[I]) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = p.panicError("request on", w.m.name, r), true
		}
	}()
	return j.fn(j.ctx, inst), false
}

func (p *Pool[I]) panicError(what, name string, r any) error {
	if p.cfg.Logf != nil {
		p.cfg.Logf("pool: panic in %s %s: %v\n%s", what, name, r, debug.Stack())
	}
	return fmt.Errorf("%w: %s %s: %v", ErrPanic, what, name, r)
}

func (p *Pool[I]) closeInstance(w *worker[I], inst I) {
	defer func() {
		if r := recover(); r != nil {
			p.panicError("close of", w.m.name, r)
		}
	}()
	if err := inst.Close(); err != nil && p.cfg.Logf != nil {
		p.cfg.Logf("pool: close %s: %v", w.m.name, err)
	}
}

// fail records a failure of m for the circuit breaker. p.mu held.
func (p *Pool[I]) fail(m *modelState[I], err error) {
	m.failures++
	m.lastErr = err
	if m.failures >= p.cfg.BreakerThreshold {
		m.retryAt = p.clock.Now().Add(p.cfg.BreakerBackoff)
	}
}

// finished books the end of one request on w (ran: it was not abandoned
// in the queue) and starts the keep-alive countdown when the model has gone
// idle. When a panic opens the circuit breaker it stops w and returns the
// error its queued requests get.
func (p *Pool[I]) finished(w *worker[I], ran, panicked bool) (broken error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := w.m
	w.pending--
	w.running = false
	if ran {
		now := p.clock.Now()
		w.served++
		w.lastUse, m.lastUse = now, now
	}
	switch {
	case panicked:
		p.fail(m, fmt.Errorf("%w while serving a request", ErrPanic))
		if m.failures >= p.cfg.BreakerThreshold {
			broken = fmt.Errorf("%w: %s panicked %d times in a row", ErrBackoff, m.name, m.failures)
			p.stopWorker(w)
			return broken
		}
	case ran && m.failures > 0:
		m.failures, m.lastErr = 0, nil
	}
	keep := p.cfg.KeepAlive
	if m.keepAlive != nil {
		keep = *m.keepAlive
	}
	if w.state == stateStopping || !m.idle() || keep < 0 {
		return nil
	}
	if keep == 0 {
		p.stopModel(m)
		return nil
	}
	m.idleGen++
	gen := m.idleGen
	m.stopIdle = p.clock.AfterFunc(keep, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if m.idleGen == gen && m.idle() {
			p.stopModel(m)
		}
	})
	return nil
}
