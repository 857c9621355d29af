package compute

import (
	"errors"
	"fmt"
)

// ErrBatch is wrapped by the errors of a batch that cannot run.
var ErrBatch = errors.New("compute: bad batch")

// Batch is the input of one step: tokens with their sequence and
// position, and which of them the step returns outputs for. It is data,
// not part of the graph: a graph built for a batch shape (Shape) runs any
// batch of that shape.
type Batch struct {
	Tokens []int32
	Pos    []int32
	// Seq is each token's sequence; nil means every token is in sequence 0.
	Seq []int32
	// Base is each sequence's first KV cache cell: sequence s keeps
	// position p in cell Base[s]+p. nil means one sequence from cell 0.
	// Several sequences in one batch (an embedding batch of texts) each
	// get their own cells.
	Base []int32
	// Pages, when set, replaces Base with a page table per sequence:
	// sequence s keeps position p in cell
	// Pages[s][p/PageCells]*PageCells + p%PageCells. Pages let sequences
	// grow a page at a time from one pool of cells and share the pages of
	// a common prefix.
	Pages [][]int32
	// Output marks the tokens whose rows the graph's result holds; nil
	// means the last token only.
	Output []bool
}

// PageCells is the cells of one page of a paged KV cache (Batch.Pages).
// Sixteen keeps the cells a sequence leaves unused under one page while
// a run of keys stays long enough for a kernel's inner loop.
const PageCells = 16

// CellRun is a run of consecutive cells holding consecutive positions:
// positions [Pos, Pos+Len) in cells [Cell, Cell+Len).
type CellRun struct{ Pos, Cell, Len int }

// BatchShape is what a graph depends on: the number of tokens and of
// output rows.
type BatchShape struct{ Tokens, Outputs int }

// Shape returns the batch's shape.
func (b *Batch) Shape() BatchShape {
	return BatchShape{Tokens: len(b.Tokens), Outputs: b.Outputs()}
}

// Outputs returns how many tokens want an output row.
func (b *Batch) Outputs() int {
	if b.Output == nil {
		return min(len(b.Tokens), 1)
	}
	n := 0
	for _, o := range b.Output {
		if o {
			n++
		}
	}
	return n
}

// Wants reports whether token i wants an output row.
func (b *Batch) Wants(i int) bool {
	if b.Output == nil {
		return i == len(b.Tokens)-1
	}
	return b.Output[i]
}

// SeqOf returns token i's sequence.
func (b *Batch) SeqOf(i int) int32 {
	if b.Seq == nil {
		return 0
	}
	return b.Seq[i]
}

// Check returns an ErrBatch error for an empty batch, one CheckCells
// refuses for a cache of ctx cells, an id outside vocab or a position
// outside [0, ctx).
func (b *Batch) Check(vocab, ctx int) error {
	if len(b.Tokens) == 0 {
		return fmt.Errorf("%w: no tokens", ErrBatch)
	}
	if err := b.CheckCells(ctx); err != nil {
		return err
	}
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= vocab {
			return fmt.Errorf("%w: token %d outside the vocabulary of %d", ErrBatch, t, vocab)
		}
		if p := b.Pos[i]; int(p) >= ctx {
			return fmt.Errorf("%w: position %d outside the context of %d", ErrBatch, p, ctx)
		}
	}
	return nil
}

// CheckCells returns an ErrBatch error for a batch whose slices disagree,
// a negative position, a sequence without a base cell or a token whose
// cell is outside a cache of cells: what every executor refuses before it
// indexes the batch or writes its cache.
func (b *Batch) CheckCells(cells int) error {
	n := len(b.Tokens)
	if len(b.Pos) != n || b.Seq != nil && len(b.Seq) != n || b.Output != nil && len(b.Output) != n {
		return fmt.Errorf("%w: %d tokens with %d positions, %d sequence ids and %d output marks", ErrBatch, n, len(b.Pos), len(b.Seq), len(b.Output))
	}
	for i, p := range b.Pos {
		if p < 0 {
			return fmt.Errorf("%w: position %d of token %d", ErrBatch, p, i)
		}
		s := b.SeqOf(i)
		switch {
		case b.Pages != nil:
			if s < 0 || int(s) >= len(b.Pages) {
				return fmt.Errorf("%w: sequence %d without a page table (%d given)", ErrBatch, s, len(b.Pages))
			}
			if int(p)/PageCells >= len(b.Pages[s]) {
				return fmt.Errorf("%w: position %d of sequence %d past its %d pages", ErrBatch, p, s, len(b.Pages[s]))
			}
		case s < 0 || (b.Base == nil && s != 0) || (b.Base != nil && int(s) >= len(b.Base)):
			return fmt.Errorf("%w: sequence %d without a base cell (%d given)", ErrBatch, s, len(b.Base))
		}
		if c := b.Cell(i); c < 0 || c >= cells {
			return fmt.Errorf("%w: token %d's cell %d outside the cache of %d", ErrBatch, i, c, cells)
		}
	}
	// Every page a sequence's keys may be read from must be in the cache,
	// not only the pages this batch writes.
	for s, pages := range b.Pages {
		for _, pg := range pages {
			if pg < 0 || (int(pg)+1)*PageCells > cells {
				return fmt.Errorf("%w: sequence %d's page %d outside the cache of %d cells", ErrBatch, s, pg, cells)
			}
		}
	}
	return nil
}

// Cell returns the KV cache cell of token i.
func (b *Batch) Cell(i int) int {
	return b.CellOf(b.SeqOf(i), int(b.Pos[i]))
}

// CellOf returns the cell that keeps position pos of sequence seq.
func (b *Batch) CellOf(seq int32, pos int) int {
	if b.Pages != nil {
		return int(b.Pages[seq][pos/PageCells])*PageCells + pos%PageCells
	}
	return b.base(seq) + pos
}

// KeyRuns appends the cells of the keys token i attends to (the
// positions Span gives) to runs, as runs of consecutive cells in
// position order, and returns the result.
func (b *Batch) KeyRuns(i int, a *Attention, runs []CellRun) []CellRun {
	lo, hi := b.Span(i, a)
	seq := b.SeqOf(i)
	if b.Pages == nil {
		return append(runs, CellRun{Pos: lo, Cell: b.base(seq) + lo, Len: hi - lo})
	}
	for p := lo; p < hi; {
		n := min(hi-p, PageCells-p%PageCells)
		c := b.CellOf(seq, p)
		if k := len(runs) - 1; k >= 0 && runs[k].Cell+runs[k].Len == c {
			runs[k].Len += n
		} else {
			runs = append(runs, CellRun{Pos: p, Cell: c, Len: n})
		}
		p += n
	}
	return runs
}

func (b *Batch) base(seq int32) int {
	if b.Base == nil {
		return 0
	}
	return int(b.Base[seq])
}

// KeyCells returns the cells [lo, hi) of the keys token i attends to: its
// sequence's positions Span gives. It is for a batch without Pages, whose
// keys are one run (KeyRuns is the general form).
func (b *Batch) KeyCells(i int, a *Attention) (lo, hi int) {
	lo, hi = b.Span(i, a)
	base := b.base(b.SeqOf(i))
	return base + lo, base + hi
}

// Span returns the positions [lo, hi) token i attends to: up to its own
// (causal) or every position of its sequence in the batch and before it,
// limited to the last window positions when window > 0.
func (b *Batch) Span(i int, a *Attention) (lo, hi int) {
	pos := int(b.Pos[i])
	hi = pos + 1
	if !a.Causal {
		for j := range b.Tokens {
			if b.SeqOf(j) == b.SeqOf(i) {
				hi = max(hi, int(b.Pos[j])+1)
			}
		}
	}
	if a.Window > 0 {
		lo = max(0, pos-a.Window+1)
	}
	return lo, hi
}
