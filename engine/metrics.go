package engine

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics counts requests, tokens and errors for the daemon, in total and
// per model. It is safe for concurrent use; the zero value is ready.
type Metrics struct {
	total  counters
	mu     sync.Mutex
	models map[string]*counters
}

type counters struct {
	requests, errors, cancelled                 atomic.Uint64
	promptTokens, cachedTokens, generatedTokens atomic.Uint64
	promptNanos, generationNanos                atomic.Int64
}

// Counts is a snapshot of one set of counters.
type Counts struct {
	Requests  uint64 // requests that reached Generate
	Errors    uint64 // requests that ended with an error other than cancellation
	Cancelled uint64 // requests cancelled by the caller or a failed callback
	// Token counts summed over requests.
	PromptTokens, CachedTokens, GeneratedTokens uint64
	// Durations summed over requests.
	PromptDuration, GenerationDuration time.Duration
}

// MetricsSnapshot is a copy of all counters.
type MetricsSnapshot struct {
	Total  Counts
	Models map[string]Counts // by model name
}

// Record adds one finished request of model to the counters. err is the
// error Generate returned; cancelled tells a cancellation from a failure.
func (m *Metrics) Record(model string, r Result, err error) {
	m.mu.Lock()
	c := m.models[model]
	if c == nil {
		if m.models == nil {
			m.models = make(map[string]*counters)
		}
		c = new(counters)
		m.models[model] = c
	}
	m.mu.Unlock()
	for _, c := range []*counters{&m.total, c} {
		c.requests.Add(1)
		switch {
		case r.StopReason == StopCancelled:
			c.cancelled.Add(1)
		case err != nil:
			c.errors.Add(1)
		}
		c.promptTokens.Add(uint64(r.PromptTokens))
		c.cachedTokens.Add(uint64(r.CachedTokens))
		c.generatedTokens.Add(uint64(r.GeneratedTokens))
		c.promptNanos.Add(int64(r.PromptDuration))
		c.generationNanos.Add(int64(r.GenerationDuration))
	}
}

// Snapshot returns the current counts.
func (m *Metrics) Snapshot() MetricsSnapshot {
	m.mu.Lock()
	models := maps.Clone(m.models)
	m.mu.Unlock()
	s := MetricsSnapshot{Total: m.total.counts(), Models: make(map[string]Counts, len(models))}
	for name, c := range models {
		s.Models[name] = c.counts()
	}
	return s
}

func (c *counters) counts() Counts {
	return Counts{
		Requests:           c.requests.Load(),
		Errors:             c.errors.Load(),
		Cancelled:          c.cancelled.Load(),
		PromptTokens:       c.promptTokens.Load(),
		CachedTokens:       c.cachedTokens.Load(),
		GeneratedTokens:    c.generatedTokens.Load(),
		PromptDuration:     time.Duration(c.promptNanos.Load()),
		GenerationDuration: time.Duration(c.generationNanos.Load()),
	}
}
