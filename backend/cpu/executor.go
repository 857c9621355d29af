// Package cpu is the CPU executor of compute graphs: each op runs on
// package kernels (SIMD where the CPU has it, matrix products and
// attention split over cores), rounding activations as llama.cpp's CPU
// backend does, so a graph gives llama.cpp's numbers. As a
// compute.SamplingExecutor it also draws a step's next tokens (RunSample),
// on the same threads, right after the forward pass.
//
// A graph is planned once, on its first Run: every scratch node gets one
// of a few float32 buffers, reused once the values it held are dead, and
// every weight an op reads as floats (norm weights, biases) is
// dequantized. A warm Run allocates nothing.
package cpu

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/kernels"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("cpu: executor closed")

// Executor runs graphs on package kernels. It owns the KV cache, whose
// cells a batch gives its sequences from base cells or through page
// tables (compute.Batch.Pages), and the scratch buffers, and serves one
// caller at a time.
type Executor struct {
	cache        compute.CacheShape
	cells        int
	keys, values []kvRows // per layer
	closed       bool

	plans map[*compute.Graph]*plan

	// Shared by every plan: a plan names buffers by index, so the same
	// buffers serve every batch shape, each as large as the largest use.
	slots    [][]float32
	slotSize []int

	dequant map[*byte][]float32 // weights read as floats, by their data
	ones    []float32           // an RMSNorm's weight when it has none: the kernel always multiplies, and by 1 exactly
	ropes   []*ropeTable

	packs        *packs // the model's packed matrices; nil for an executor made by New
	mv           kernels.MatVec
	gemm         kernels.Gemm
	xrows, yrows [][]float32       // a matmul's rows, as DoBatch takes them
	runs         [][]kernels.Run   // attention: each token's keys as runs of cells
	spans        []int             // attention: each token's keys
	cellRuns     []compute.CellRun // attention: scratch for Batch.KeyRuns
	queries      []float32         // attention: queries rounded to f16
	attn         attnTask
	moe          moeScratch
	split        kernels.Split
	draws        drawTask
}

// New returns an executor whose KV cache holds cells positions of shape
// cache, stored as its type (one of compute.KVTypes: F16, as llama.cpp's
// default cache, 2 bytes a value; Q8_0, 34 bytes per 32; F32).
func New(cache compute.CacheShape, cells int) (*Executor, error) {
	if err := cache.Check(); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	if cells <= 0 || cache.Layers < 0 || cache.Width < 0 {
		return nil, fmt.Errorf("cpu: a KV cache of %d cells of %+v", cells, cache)
	}
	if n := int64(cache.Layers) * int64(cells) * int64(cache.Width); n > 1<<34 {
		return nil, fmt.Errorf("cpu: a KV cache of %d cells needs %d values per side, too many", cells, n)
	}
	e := &Executor{cache: cache, cells: cells, plans: map[*compute.Graph]*plan{}, dequant: map[*byte][]float32{}}
	for range cache.Layers {
		e.keys = append(e.keys, newKVRows(cache, cells))
		e.values = append(e.values, newKVRows(cache, cells))
	}
	e.attn.e = e
	return e, nil
}

// Close implements compute.Executor: it drops the cache, the buffers and
// the plans.
func (e *Executor) Close() error {
	*e = Executor{closed: true}
	return nil
}

// Run implements compute.Executor. The result is one of the executor's
// buffers, valid until the next Run.
func (e *Executor) Run(g *compute.Graph, batch *compute.Batch) ([]float32, error) {
	if e.closed {
		return nil, ErrClosed
	}
	if err := e.check(g, batch); err != nil {
		return nil, err
	}
	p, ok := e.plans[g]
	if !ok {
		var err error
		if p, err = e.plan(g); err != nil {
			return nil, err
		}
		e.plans[g] = p
	}
	for i := range p.steps {
		s := &p.steps[i]
		if err := e.run(s, batch); err != nil {
			return nil, fmt.Errorf("cpu: node %d (%s %q): %w", s.index, s.node.Op, s.node.Name, err)
		}
	}
	return e.slots[p.out][:g.Node(g.Out).Shape.Elems()], nil
}

// check refuses a batch the graph or the cache cannot take: another
// shape, a token whose cell is outside the cache.
func (e *Executor) check(g *compute.Graph, batch *compute.Batch) error {
	if batch.Shape() != g.Batch {
		return fmt.Errorf("cpu: %w: %d tokens, %d outputs for a graph of %+v", compute.ErrBatch, len(batch.Tokens), batch.Outputs(), g.Batch)
	}
	if g.Cache.Layers > 0 && (g.Cache.Width != e.cache.Width || g.Cache.Layers > e.cache.Layers) {
		return fmt.Errorf("cpu: %w: the graph's cache %+v, the executor's %+v", compute.ErrShape, g.Cache, e.cache)
	}
	if err := batch.CheckCells(e.cells); err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	return nil
}

// Grow makes room for cells cells, keeping what the cache holds, so a
// runner.Batcher grows its cache without its sequences evaluating their
// tokens again.
func (e *Executor) Grow(cells int) error {
	if cells <= e.cells {
		return nil
	}
	if n := int64(e.cache.Layers) * int64(cells) * int64(e.cache.Width); n > 1<<34 {
		return fmt.Errorf("cpu: a KV cache of %d cells needs %d values per side, too many", cells, n)
	}
	for l := range e.keys {
		e.keys[l] = e.keys[l].grown(e.cache, cells)
		e.values[l] = e.values[l].grown(e.cache, cells)
	}
	e.cells = cells
	return nil
}

// Forget drops g's plan (runner calls it for a graph it no longer keeps).
func (e *Executor) Forget(g *compute.Graph) { delete(e.plans, g) }
