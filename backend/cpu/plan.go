package cpu

import (
	"fmt"
	"math"
	"slices"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/quant"
)

// plan is a graph made ready to run: its scratch nodes in order, each
// with the buffers of its result and operands.
type plan struct {
	steps []step
	out   int // the slot of the graph's result
}

// step is one scratch node of a plan.
type step struct {
	node  *compute.Node
	index int // in the graph's nodes, for errors
	out   int // the slot of the result; -1 for none (StoreKV)
	src   [5]operand
	w     *compute.Node   // the table of OpGetRows, the matrix of OpMatMul, OpMoE's gate stack
	pk    *kernels.Packed // OpMatMul's matrix packed for kernels.Gemm, if its type has a packed layout
	w2    *compute.Node   // OpMoE's up stack
	w3    *compute.Node   // OpMoE's down stack
	byPos bool            // OpGetRows picks rows by position, not token
	rope  *ropeTable      // OpRope
}

// operand is where a step reads a source as floats: a slot (a scratch
// result) or a weight's floats, dequantized at plan time. An absent
// operand, a matrix (matmul, get_rows) and the token ids have neither.
type operand struct {
	slot  int // -1 unless a scratch result
	elems int
	w     []float32
}

// floats returns the operand's values (nil when absent).
func (e *Executor) floats(o operand) []float32 {
	if o.slot >= 0 {
		return e.slots[o.slot][:o.elems]
	}
	return o.w
}

// ropeTable is the (cos, sin) of every rotated pair at every cell's
// position, for one set of frequencies.
type ropeTable struct {
	freqs []float64
	dims  int
	cs    []float32 // cells × dims
}

// at returns position pos's pairs.
func (r *ropeTable) at(pos int) []float32 { return r.cs[pos*r.dims : (pos+1)*r.dims] }

// inPlace reports the ops whose result may overwrite their first operand:
// each output value depends only on the operands' values at its index (or
// on its row, read before it is written).
func inPlace(op compute.Op) bool {
	switch op {
	case compute.OpAdd, compute.OpMul, compute.OpScale, compute.OpRMSNorm, compute.OpLayerNorm,
		compute.OpRope, compute.OpSiLUMul, compute.OpGELU, compute.OpGELUMul, compute.OpSoftmax, compute.OpSoftCap:
		return true
	}
	return false
}

// plan assigns each scratch node a slot. A node's value lives from its op
// to the last op that reads it (the result to the end); a slot whose
// value is dead goes back to a free list and is handed to the next node
// that fits it best. An in-place op whose first operand dies with it
// takes that operand's slot, so a residual add or a norm costs no copy.
func (e *Executor) plan(g *compute.Graph) (*plan, error) {
	last := make([]int, len(g.Nodes))
	for i := range last {
		last[i] = -1
	}
	for i := range g.Nodes {
		for _, t := range g.Nodes[i].Src {
			if t.Valid() {
				last[t.Index()] = i
			}
		}
	}
	last[g.Out.Index()] = len(g.Nodes)

	slot := make([]int, len(g.Nodes))
	// Every buffer is free when a run starts: plans share them.
	free := make([]int, len(e.slotSize))
	for k := range free {
		free[k] = k
	}
	p := &plan{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Kind != compute.KindScratch {
			continue
		}
		s := step{node: n, index: i, out: -1}
		if err := e.prepare(g, &s, slot); err != nil {
			return nil, fmt.Errorf("cpu: node %d (%s %q): %w", i, n.Op, n.Name, err)
		}
		if elems := n.Shape.Elems(); elems > 0 {
			if a := n.Src[0]; inPlace(n.Op) && s.src[0].slot >= 0 && last[a.Index()] == i {
				s.out = s.src[0].slot
			} else {
				s.out = e.pick(&free, elems)
			}
			slot[i] = s.out
			e.slotSize[s.out] = max(e.slotSize[s.out], elems)
		}
		for j, t := range n.Src {
			if !t.Valid() || slices.Contains(n.Src[:j], t) || last[t.Index()] != i || s.src[j].slot < 0 {
				continue
			}
			if s.src[j].slot != s.out {
				free = append(free, s.src[j].slot)
			}
		}
		if last[i] < 0 && s.out >= 0 { // read by nothing
			free = append(free, s.out)
		}
		p.steps = append(p.steps, s)
	}
	p.out = slot[g.Out.Index()]
	for k, size := range e.slotSize {
		if k == len(e.slots) {
			e.slots = append(e.slots, nil)
		}
		if len(e.slots[k]) < size {
			e.slots[k] = make([]float32, size)
		}
	}
	if n := g.Batch.Tokens; len(e.xrows) < n {
		e.xrows, e.yrows, e.spans = make([][]float32, n), make([][]float32, n), make([]int, n)
		e.runs = make([][]kernels.Run, n)
	}
	return p, nil
}

// pick takes the free slot that fits elems most tightly, else the largest
// (to be grown), else a new one.
func (e *Executor) pick(free *[]int, elems int) int {
	best := -1
	for j, k := range *free {
		if best < 0 || fitsBetter(e.slotSize[k], e.slotSize[(*free)[best]], elems) {
			best = j
		}
	}
	if best < 0 {
		e.slotSize = append(e.slotSize, 0)
		return len(e.slotSize) - 1
	}
	k := (*free)[best]
	*free = slices.Delete(*free, best, best+1)
	return k
}

// fitsBetter reports whether a slot of size a suits elems better than one
// of size b: one that holds elems beats one that does not; of two that
// hold it the smaller wins, of two that do not the larger.
func fitsBetter(a, b, elems int) bool {
	if (a >= elems) != (b >= elems) {
		return a >= elems
	}
	if a >= elems {
		return a < b
	}
	return a > b
}

// prepare resolves s's operands and readies what its op needs beyond the
// slots: weights as floats, rope tables, attention scratch.
func (e *Executor) prepare(g *compute.Graph, s *step, slot []int) error {
	n := s.node
	for j, t := range n.Src {
		s.src[j] = operand{slot: -1}
		if !t.Valid() {
			continue
		}
		src := g.Node(t)
		switch {
		case j == 0 && (n.Op == compute.OpGetRows || n.Op == compute.OpMatMul), j >= 2 && n.Op == compute.OpMoE,
			src.Kind == compute.KindInput, src.Op == compute.OpStoreKV:
			// Read as stored: a table, a matrix, expert stacks, the ids, the cache.
		case src.Kind == compute.KindScratch:
			s.src[j] = operand{slot: slot[t.Index()], elems: src.Shape.Elems()}
		case src.Kind == compute.KindWeight:
			w, err := e.weightFloats(src)
			if err != nil {
				return err
			}
			s.src[j].w = w
		}
	}
	switch n.Op {
	case compute.OpGetRows, compute.OpMatMul:
		s.w = g.Node(n.Src[0])
		s.byPos = n.Op == compute.OpGetRows && g.Node(n.Src[1]).Name == compute.InputPositions
		if n.Op == compute.OpMatMul && e.packs != nil {
			pk, err := e.packs.get(s.w)
			if err != nil {
				return err
			}
			s.pk = pk
		}
	case compute.OpAdd, compute.OpMul, compute.OpScale, compute.OpSoftCap,
		compute.OpLayerNorm, compute.OpSiLUMul, compute.OpGELU, compute.OpGELUMul, compute.OpSoftmax,
		compute.OpView, compute.OpOutputs:
	case compute.OpRMSNorm:
		if !n.Src[1].Valid() {
			width := n.Shape.Cols
			if n.Params.Group > 0 {
				width = n.Params.Group
			}
			if len(e.ones) < width {
				e.ones = make([]float32, width)
				for i := range e.ones {
					e.ones[i] = 1
				}
			}
			s.src[1].w = e.ones[:width]
		}
	case compute.OpRope:
		s.rope = e.ropeTable(n.Params.Rope)
	case compute.OpMoE:
		s.w, s.w2, s.w3 = g.Node(n.Src[2]), g.Node(n.Src[3]), g.Node(n.Src[4])
		e.moe.grow(n.Shape.Rows, n.Params.MoE, g.Node(n.Src[2]).Shape.Rows/n.Params.MoE.Experts, n.Shape.Cols)
	case compute.OpStoreKV, compute.OpAttention:
		if l := n.Params.Layer; l < 0 || l >= len(e.keys) {
			return fmt.Errorf("%w: layer %d of a cache of %d", compute.ErrShape, l, len(e.keys))
		}
		if n.Op == compute.OpAttention {
			if len(e.queries) < n.Shape.Elems() {
				e.queries = make([]float32, n.Shape.Elems())
			}
		}
	default:
		return fmt.Errorf("%w: no CPU kernel for op %s", compute.ErrOp, n.Op)
	}
	return nil
}

// weightFloats returns weight n dequantized, once per executor.
func (e *Executor) weightFloats(n *compute.Node) ([]float32, error) {
	key := &n.Weight[0]
	if w, ok := e.dequant[key]; ok {
		return w, nil
	}
	w := make([]float32, n.Shape.Elems())
	if err := quant.Dequantize(n.Type, n.Weight, w); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", n.Name, err)
	}
	e.dequant[key] = w
	return w, nil
}

// ropeTable returns the (cos, sin) table of r's frequencies for every
// cell, computed once and shared by ropes of equal frequencies (each
// graph the runner builds has its own *compute.Rope). The angle is
// pos·freq in float64, as compute.Reference and llama's RefSession
// compute it.
func (e *Executor) ropeTable(r *compute.Rope) *ropeTable {
	for _, t := range e.ropes {
		if slices.Equal(t.freqs, r.Freqs) {
			return t
		}
	}
	t := &ropeTable{freqs: slices.Clone(r.Freqs), dims: r.Dims, cs: make([]float32, 0, e.cells*r.Dims)}
	for p := range e.cells {
		for _, f := range r.Freqs {
			theta := float64(p) * f
			t.cs = append(t.cs, float32(math.Cos(theta)), float32(math.Sin(theta)))
		}
	}
	e.ropes = append(e.ropes, t)
	return t
}
