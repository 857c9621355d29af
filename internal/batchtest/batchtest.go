// Package batchtest holds an executor to batch invariance on a real
// model: a sequence's logits must have the same bits whether its keys sit
// in base cells or in pages scattered over the cache, and whether it runs
// alone or in one batch beside other sequences.
package batchtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/runner"
)

// Model is what the check runs: a model's file and graph, and a new
// executor over its cache (runner.Weights.NewExecutor).
type Model struct {
	File     *gguf.File
	Build    runner.Graph
	Executor runner.NewExecutor
}

// Steps is the decode steps each sequence takes after its prompt.
const Steps = 3

// pagesPerSeq pages hold a sequence: its prompt (at most 15 tokens) and
// Steps decode tokens cross one page boundary at most.
const pagesPerSeq = 2

// prompt returns sequence s's prompt: 3 to 15 tokens, so that together
// 16 sequences fit a 128-token step and the longest cross a page.
func prompt(s int) []int32 {
	n := 3 + (s*5)%13
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(1 + (s*31+i*17)%200)
	}
	return p
}

// layout is where a run keeps the sequences' keys.
type layout struct {
	base  []int32   // per sequence, or nil
	pages [][]int32 // per sequence, or nil
}

// cells is the cache the check opens: room for every layout below.
func cells(seqs int) int { return 4 * seqs * pagesPerSeq * compute.PageCells }

// layouts returns the base layout (sequences apart, at cells off the page
// grid) and a paged one whose pages are scattered over the cache, each
// sequence's second page before its first.
func layouts(seqs int) (base, paged layout) {
	for s := range seqs {
		base.base = append(base.base, int32(s*pagesPerSeq*compute.PageCells+5))
		// Pages from the cache's upper half, interleaved across sequences.
		n := int32(cells(seqs) / compute.PageCells)
		base0 := n/2 + int32(s)
		paged.pages = append(paged.pages, []int32{base0 + 2*int32(seqs), base0})
	}
	return base, paged
}

// Check runs seqs sequences three ways on fresh executors of m — each
// alone with base cells, each alone with pages, all in one batch with
// pages (prompt tokens together, then one decode token of each per
// step) — and fails unless every token's logits have the same bits in
// all three.
func Check(t *testing.T, m Model, seqs int) {
	t.Helper()
	base, paged := layouts(seqs)
	want := alone(t, m, seqs, base)
	for name, got := range map[string][][][]float32{
		"alone, paged":    alone(t, m, seqs, paged),
		"together, paged": together(t, m, seqs, paged),
	} {
		for s := range seqs {
			for step := range want[s] {
				if err := same(got[s][step], want[s][step]); err != nil {
					t.Errorf("%s: sequence %d step %d vs alone with base cells: %v", name, s, step, err)
				}
			}
		}
	}
}

// same reports the first element whose bits differ.
func same(got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Errorf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// run is an executor with its graphs by batch shape.
type run struct {
	t      *testing.T
	m      Model
	exec   compute.Executor
	graphs map[compute.BatchShape]*compute.Graph
}

func open(t *testing.T, m Model, seqs int) *run {
	t.Helper()
	b := compute.NewBuilder(m.File, compute.BatchShape{Tokens: 1, Outputs: 1})
	g, err := b.Finish(m.Build(b))
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Executor(g.Cache, cells(seqs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &run{t: t, m: m, exec: e, graphs: map[compute.BatchShape]*compute.Graph{}}
}

// step runs batch (every token an output) and returns each token's
// logits, copied.
func (r *run) step(batch *compute.Batch) [][]float32 {
	r.t.Helper()
	batch.Output = make([]bool, len(batch.Tokens))
	for i := range batch.Output {
		batch.Output[i] = true
	}
	shape := batch.Shape()
	g, ok := r.graphs[shape]
	if !ok {
		b := compute.NewBuilder(r.m.File, shape)
		var err error
		if g, err = b.Finish(r.m.Build(b)); err != nil {
			r.t.Fatal(err)
		}
		r.graphs[shape] = g
	}
	out, err := r.exec.Run(g, batch)
	if err != nil {
		r.t.Fatal(err)
	}
	vocab := len(out) / len(batch.Tokens)
	rows := make([][]float32, len(batch.Tokens))
	for i := range rows {
		rows[i] = append([]float32(nil), out[i*vocab:(i+1)*vocab]...)
	}
	return rows
}

// next is sequence s's decode token after step.
func next(s, step int) int32 { return int32(7 + (s*13+step*29)%150) }

// alone runs each sequence in batches of its own: its prompt, then its
// decode steps. It returns per sequence, per step (the prompt's tokens
// first, then each decode token), the logits of each token.
func alone(t *testing.T, m Model, seqs int, l layout) [][][]float32 {
	r := open(t, m, seqs)
	got := make([][][]float32, seqs)
	for s := range seqs {
		p := prompt(s)
		b := l.batch()
		for i, tok := range p {
			b.Tokens, b.Pos, b.Seq = append(b.Tokens, tok), append(b.Pos, int32(i)), append(b.Seq, int32(s))
		}
		got[s] = r.step(b)
		for step := range Steps {
			b := l.batch()
			b.Tokens, b.Pos, b.Seq = []int32{next(s, step)}, []int32{int32(len(p) + step)}, []int32{int32(s)}
			got[s] = append(got[s], r.step(b)...)
		}
	}
	return got
}

// batch is an empty batch over layout l: every sequence's base cell or
// page table, so that a sequence's id is its number whoever else runs.
func (l layout) batch() *compute.Batch {
	return &compute.Batch{Base: l.base, Pages: l.pages}
}

// together runs every sequence's prompt in one batch, then each decode
// step of every sequence in one batch, in the same shape as alone's
// result.
func together(t *testing.T, m Model, seqs int, l layout) [][][]float32 {
	r := open(t, m, seqs)
	b := l.batch()
	var owner []int
	for s := range seqs {
		for i, tok := range prompt(s) {
			b.Tokens, b.Pos, b.Seq = append(b.Tokens, tok), append(b.Pos, int32(i)), append(b.Seq, int32(s))
			owner = append(owner, s)
		}
	}
	got := make([][][]float32, seqs)
	for i, row := range r.step(b) {
		got[owner[i]] = append(got[owner[i]], row)
	}
	for step := range Steps {
		b := l.batch()
		// The sequences in reverse order: a token's row in the batch must
		// not matter either.
		for s := seqs - 1; s >= 0; s-- {
			b.Tokens = append(b.Tokens, next(s, step))
			b.Pos = append(b.Pos, int32(len(prompt(s))+step))
			b.Seq = append(b.Seq, int32(s))
		}
		rows := r.step(b)
		for s := range seqs {
			got[s] = append(got[s], rows[seqs-1-s])
		}
	}
	return got
}
