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
	// Output marks the tokens whose rows the graph's result holds; nil
	// means the last token only.
	Output []bool
}

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
		if s := b.SeqOf(i); s < 0 || (b.Base == nil && s != 0) || (b.Base != nil && int(s) >= len(b.Base)) {
			return fmt.Errorf("%w: sequence %d without a base cell (%d given)", ErrBatch, s, len(b.Base))
		}
		if c := b.Cell(i); c < 0 || c >= cells {
			return fmt.Errorf("%w: token %d's cell %d outside the cache of %d", ErrBatch, i, c, cells)
		}
	}
	return nil
}

// Cell returns the KV cache cell of token i.
func (b *Batch) Cell(i int) int {
	return b.base(b.SeqOf(i)) + int(b.Pos[i])
}

func (b *Batch) base(seq int32) int {
	if b.Base == nil {
		return 0
	}
	return int(b.Base[seq])
}

// KeyCells returns the cells [lo, hi) of the keys token i attends to: its
// sequence's positions Span gives.
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
