package pool

import (
	"slices"
	"strings"
	"time"
)

// Status is a snapshot of a pool.
type Status struct {
	Capability string
	Closed     bool
	// Memory is the budget's use per device (shared with other pools using
	// the same Budget).
	Memory []DeviceMemory
	// Models are the loaded models and those with a failure record, by
	// name.
	Models []ModelStatus
}

// ModelStatus describes one model.
type ModelStatus struct {
	Name            string
	Backend, Device string
	Need            Need   // memory per the loader
	Memory          uint64 // bytes charged to the budget now
	Workers         []WorkerStatus
	Queued, Running int // requests waiting, and being served
	LastUse         time.Time
	Breaker         BreakerStatus
}

// WorkerStatus describes one worker.
type WorkerStatus struct {
	ID       int
	State    string // "loading", "ready" or "busy"
	Pending  int    // requests queued on it or running
	Served   uint64 // requests it ran
	LastUse  time.Time
	LoadTime time.Duration
}

// BreakerStatus is a model's circuit breaker.
type BreakerStatus struct {
	State     string // "closed" (normal), "open" (held off) or "half-open" (next request retries)
	Failures  int    // consecutive failures
	LastError string
	RetryAt   time.Time // when State is "open"
}

// Status returns a snapshot of the pool.
func (p *Pool[I]) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	s := Status{Capability: p.cfg.Capability, Closed: p.closed, Memory: p.budget.Snapshot()}
	for _, m := range p.models {
		ms := ModelStatus{Name: m.name, Backend: m.need.Backend, Device: m.need.Device, Need: m.need, LastUse: m.lastUse}
		ms.Memory = m.charged()
		for _, w := range m.workers {
			ws := WorkerStatus{ID: w.id, State: w.state, Pending: w.pending, Served: w.served, LastUse: w.lastUse, LoadTime: w.loadTime}
			if w.running {
				ws.State = "busy"
				ms.Running++
			}
			ms.Queued += w.pending
			if w.running {
				ms.Queued--
			}
			ms.Workers = append(ms.Workers, ws)
		}
		ms.Breaker = BreakerStatus{State: "closed", Failures: m.failures}
		if m.lastErr != nil {
			ms.Breaker.LastError = m.lastErr.Error()
		}
		if m.failures >= p.cfg.BreakerThreshold {
			ms.Breaker.State, ms.Breaker.RetryAt = "open", m.retryAt
			if !now.Before(m.retryAt) {
				ms.Breaker.State = "half-open"
			}
		}
		s.Models = append(s.Models, ms)
	}
	slices.SortFunc(s.Models, func(a, b ModelStatus) int { return strings.Compare(a.Name, b.Name) })
	return s
}
