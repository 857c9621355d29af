package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// bound is a graph bound to the executor's buffers: its descriptor sets
// and the commands that record one step of it.
type bound struct {
	g        *compute.Graph
	sets     *vk.Sets
	inputs   []input
	cmds     []cmd
	outBytes uint64 // the result's bytes at the start of slot 0
	// tokenRows and posRows bound the ids the graph's get_rows read.
	tokenRows, posRows int
}

// input is a buffer the step fills from the batch by an update.
type input struct {
	buf  *vk.Buffer
	fill func(b *compute.Batch, dst []byte) []byte
}

// cmd records one op (or a part of one) into a step.
type cmd struct {
	barrier bool // a barrier goes before it
	record  func(st *vk.Step, b *compute.Batch)
}

// noSlot marks a node that has no scratch buffer: a leaf, a store_kv.
const noSlot = -1

// plan is the buffer assignment of a graph, before any buffer exists:
// each scratch node's slot, and how large each slot must be.
type plan struct {
	slot []int
	need []uint64
	// accumulate marks a matmul that adds its product into its slot, the
	// residual it is added to (the add then records nothing).
	accumulate []bool
	// fused marks an add its matmul records.
	fused     []bool
	inputSlot map[string]int
	rangeSlot map[rangeKey]int
	cells     int // each token's cell for store_kv (F16, Q8_0 caches), noSlot if none
	// rounded holds, per rounding, the slot a matmul's input is rounded
	// into first, as llama.cpp converts activations for quantized weights.
	rounded map[ops.Rounding]int
	// moe holds each OpMoE node's scratch slots.
	moe map[int]moeSlots
}

// moeSlots are an OpMoE's scratch: the tokens' dense expert weights, the
// input rounded to f16 (F16 stacks; else noSlot), and one expert's gate,
// up and down rows for every token.
type moeSlots struct {
	route, half, gate, up, down int
}

// rangeKey is what the key ranges of an attention depend on.
type rangeKey struct {
	causal bool
	window int
}

// users returns, per node, the nodes that read it.
func users(g *compute.Graph) [][]int {
	u := make([][]int, len(g.Nodes))
	for i := range g.Nodes {
		for _, s := range g.Nodes[i].Src {
			if s.Valid() {
				u[s.Index()] = append(u[s.Index()], i)
			}
		}
	}
	return u
}

// fusedAdd returns, for an add node j, the matmul that can accumulate
// into the add's other operand x in place, or -1: the matmul is read
// only by j, x is scratch of j's shape that nothing reads after the
// matmul but j, and the matmul does not read x. This is the residual
// stream of a transformer block: x += W·a, without a buffer for the
// product.
func fusedAdd(g *compute.Graph, u [][]int, j int) int {
	n := &g.Nodes[j]
	if n.Op != compute.OpAdd || j == g.Out.Index() {
		return -1
	}
	for k := range 2 {
		m, x := n.Src[k].Index(), n.Src[1-k].Index()
		mn, xn := &g.Nodes[m], &g.Nodes[x]
		if mn.Op != compute.OpMatMul || len(u[m]) != 1 || xn.Kind != compute.KindScratch || xn.Op == compute.OpStoreKV ||
			xn.Shape != n.Shape || x >= m || x == g.Out.Index() || mn.Src[1].Index() == x {
			continue
		}
		ok := true
		for _, r := range u[x] {
			if r != j && r > m {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return -1
}

// inPlace reports whether op writes its result over its first operand.
func inPlace(op compute.Op) bool {
	switch op {
	case compute.OpRope, compute.OpSiLUMul, compute.OpGELU:
		return true
	}
	return false
}

// mayAlias reports whether op's result may share its first operand's
// buffer (in place by nature, or a norm, which the shaders allow).
func mayAlias(op compute.Op) bool {
	return inPlace(op) || op == compute.OpRMSNorm || op == compute.OpLayerNorm
}

// plan assigns slots: the result gets slot 0; a node whose first operand
// dies at it and whose op can run in place takes that operand's slot;
// others take a free slot (freed when its node's last reader has run) or
// a new one.
func (e *Executor) plan(g *compute.Graph) (*plan, error) {
	u := users(g)
	p := &plan{slot: make([]int, len(g.Nodes)), need: []uint64{0}, accumulate: make([]bool, len(g.Nodes)), fused: make([]bool, len(g.Nodes)),
		inputSlot: map[string]int{}, rangeSlot: map[rangeKey]int{}, cells: noSlot, rounded: map[ops.Rounding]int{}, moe: map[int]moeSlots{}}
	out := g.Out.Index()
	last := make([]int, len(g.Nodes))
	for i := range g.Nodes {
		last[i] = -1
		for _, r := range u[i] {
			last[i] = max(last[i], r)
		}
	}
	fused := make([]int, len(g.Nodes)) // add → its matmul
	into := map[int]int{}              // matmul → the add's residual operand
	for j := range g.Nodes {
		fused[j] = fusedAdd(g, u, j)
		if m := fused[j]; m >= 0 {
			n := &g.Nodes[j]
			x := n.Src[0].Index()
			if x == m {
				x = n.Src[1].Index()
			}
			into[m] = x
			p.accumulate[m], p.fused[j] = true, true
		}
	}
	var free []int
	fresh := func(bytes uint64) int {
		var s int
		if len(free) > 0 {
			s, free = free[len(free)-1], free[:len(free)-1]
		} else {
			s = len(p.need)
			p.need = append(p.need, 0)
		}
		p.need[s] = max(p.need[s], bytes)
		return s
	}
	// reserve is a slot of its own for the whole step, never a freed one:
	// what a step uploads before its first op (key ranges, cells) must not
	// share a slot with a node recorded before its reader.
	reserve := func(bytes uint64) int {
		p.need = append(p.need, bytes)
		return len(p.need) - 1
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		p.slot[i] = noSlot
		bytes := uint64(4 * n.Shape.Elems())
		if n.Op == compute.OpStoreKV && e.cache.Type != gguf.TypeF32 && p.cells == noSlot {
			p.cells = reserve(uint64(4 * g.Batch.Tokens))
		}
		switch {
		case n.Kind == compute.KindInput:
			s, ok := p.inputSlot[n.Name]
			if !ok {
				s = fresh(bytes)
				p.inputSlot[n.Name] = s
			}
			p.slot[i] = s
			continue
		case n.Kind != compute.KindScratch || n.Op == compute.OpStoreKV:
			continue
		case i == out:
			p.slot[i] = 0
			p.need[0] = max(p.need[0], bytes)
		case fused[i] >= 0:
			p.slot[i] = p.slot[fused[i]]
		case p.accumulate[i]:
			p.slot[i] = p.slot[into[i]]
		case mayAlias(n.Op) && g.Nodes[n.Src[0].Index()].Kind == compute.KindScratch && last[n.Src[0].Index()] == i &&
			n.Src[0].Index() != out:
			p.slot[i] = p.slot[n.Src[0].Index()]
		default:
			p.slot[i] = fresh(bytes)
		}
		if n.Op == compute.OpAttention {
			e.planAttention(g, p, i, reserve)
		}
		rounded := func(t gguf.Type, floats int) {
			r := ops.RoundingFor(t)
			if r == ops.RoundNone {
				return
			}
			if s, ok := p.rounded[r]; ok {
				p.need[s] = max(p.need[s], uint64(4*floats))
			} else {
				p.rounded[r] = fresh(uint64(4 * floats)) // never freed: every such matmul reuses it
			}
		}
		var temps []int // this node's scratch, free once it is recorded
		switch n.Op {
		case compute.OpMatMul:
			rounded(g.Node(n.Src[0]).Type, g.Node(n.Src[1]).Shape.Elems())
		case compute.OpMoE:
			m, rows, cols := n.Params.MoE, n.Shape.Rows, n.Shape.Cols
			gate, up, down := g.Node(n.Src[2]), g.Node(n.Src[3]), g.Node(n.Src[4])
			ff := gate.Shape.Rows / m.Experts
			rounded(gate.Type, rows*cols)
			rounded(up.Type, rows*cols)
			rounded(down.Type, rows*ff)
			s := moeSlots{route: fresh(uint64(4 * rows * m.Experts)), half: noSlot,
				gate: fresh(uint64(4 * rows * ff)), up: fresh(uint64(4 * rows * ff)), down: fresh(uint64(4 * rows * cols))}
			temps = append(temps, s.route, s.gate, s.up, s.down)
			if gate.Type == gguf.TypeF16 {
				s.half = fresh(uint64(4 * rows * cols))
				temps = append(temps, s.half)
			}
			p.moe[i] = s
		}
		// Operands read for the last time here free their slots, unless
		// this node's result took one over.
		for _, s := range n.Src {
			si := s.Index()
			if s.Valid() && last[si] == i && g.Nodes[si].Kind == compute.KindScratch && p.slot[si] > 0 &&
				p.slot[si] != p.slot[i] && !contains(free, p.slot[si]) {
				free = append(free, p.slot[si])
			}
		}
		free = append(free, temps...)
	}
	return p, nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// planAttention gives attention node i its key ranges (shared by the
// attentions of one kind). The ranges hold three uint32s per row (first
// and end key positions, the row's page table) and the page tables of
// the batch's sequences: at most one a row, each at most a page per
// PageCells cells of the cache. The attention itself needs no scratch
// (shaders/attention.comp is fused and tiled).
func (e *Executor) planAttention(g *compute.Graph, p *plan, i int, reserve func(uint64) int) {
	n := &g.Nodes[i]
	a := n.Params.Attn
	rows := n.Shape.Rows
	key := rangeKey{a.Causal, a.Window}
	if _, ok := p.rangeSlot[key]; !ok {
		p.rangeSlot[key] = reserve(uint64(12*rows) + 4*uint64(rows)*uint64(e.cells/compute.PageCells+1))
	}
}

// fillRanges appends attention a's key ranges for batch to dst: per
// token its first and end key positions and the index (in uint32s from
// the buffer's start) of its sequence's page table, then the tables,
// each entry the cell of position j·PageCells of its sequence, as far as
// the sequence's longest span in the batch reaches.
func fillRanges(a *compute.Attention, b *compute.Batch, dst []byte, table []int32) ([]byte, []int32) {
	seqs := max(len(b.Base), len(b.Pages), 1)
	// table[s]: the page entries sequence s needs, then its table's index.
	table = append(table[:0], make([]int32, 2*seqs)...)
	for i := range b.Tokens {
		_, hi := b.Span(i, a)
		s := b.SeqOf(i)
		table[s] = max(table[s], int32((hi+compute.PageCells-1)/compute.PageCells))
	}
	at := int32(3 * len(b.Tokens))
	for s := range seqs {
		table[seqs+s] = at
		at += table[s]
	}
	for i := range b.Tokens {
		lo, hi := b.Span(i, a)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(lo))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(hi))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(table[seqs+int(b.SeqOf(i))]))
	}
	for s := range seqs {
		for j := range int(table[s]) {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(b.CellOf(int32(s), j*compute.PageCells)))
		}
	}
	return dst, table
}

// binder holds what binding one graph needs.
type binder struct {
	e    *Executor
	g    *compute.Graph
	p    *plan
	b    *bound
	read map[*vk.Buffer]bool // since the last barrier
	dirt map[*vk.Buffer]bool // written since the last barrier
	// writes counts the commands that wrote each buffer, so a rounded
	// copy is known to be current; from says, per rounding, which input
	// its slot holds, after which write of it.
	writes map[*vk.Buffer]int
	from   map[ops.Rounding]roundedFrom
}

type roundedFrom struct {
	x      *vk.Buffer
	writes int
}

// add appends a command reading and writing the given buffers, with a
// barrier before it when it reads what an earlier command wrote since
// the last barrier, or writes what one read or wrote.
func (bd *binder) add(reads, writes []*vk.Buffer, rec func(st *vk.Step, b *compute.Batch)) {
	need := false
	for _, r := range reads {
		need = need || bd.dirt[r]
	}
	for _, w := range writes {
		need = need || bd.dirt[w] || bd.read[w]
	}
	if need {
		clear(bd.read)
		clear(bd.dirt)
	}
	for _, r := range reads {
		bd.read[r] = true
	}
	for _, w := range writes {
		bd.dirt[w] = true
		bd.writes[w]++
	}
	bd.b.cmds = append(bd.b.cmds, cmd{barrier: need, record: rec})
}

// rounded returns what a matmul with weights of type t reads of its input
// x: x itself, or x rounded into the rounding's slot (recorded here unless
// the slot already holds x as it is now).
func (bd *binder) rounded(t gguf.Type, x *vk.Buffer, rows, cols int) (*vk.Buffer, error) {
	r := ops.RoundingFor(t)
	if r == ops.RoundNone {
		return x, nil
	}
	dst := bd.e.slots[bd.p.rounded[r]]
	if f, ok := bd.from[r]; ok && f.x == x && f.writes == bd.writes[x] {
		return dst, nil
	}
	q, err := bd.e.k.BindQuantize(bd.b.sets, x.All(), dst.All())
	if err != nil {
		return nil, err
	}
	bd.add([]*vk.Buffer{x}, []*vk.Buffer{dst}, func(st *vk.Step, _ *compute.Batch) { q.Record(st, r, rows, cols, cols) })
	bd.from[r] = roundedFrom{x, bd.writes[x]}
	return dst, nil
}

// bind plans g, makes the executor's buffers large enough and binds
// every op.
func (e *Executor) bind(g *compute.Graph) (_ *bound, err error) {
	p, err := e.plan(g)
	if err != nil {
		return nil, err
	}
	if err := e.arena(p.need); err != nil {
		return nil, err
	}
	b := &bound{g: g, sets: e.k.Dev.NewSets(), outBytes: uint64(4 * g.Node(g.Out).Shape.Elems())}
	defer func() {
		if err != nil {
			b.sets.Close()
		}
	}()
	bd := &binder{e: e, g: g, p: p, b: b, read: map[*vk.Buffer]bool{}, dirt: map[*vk.Buffer]bool{},
		writes: map[*vk.Buffer]int{}, from: map[ops.Rounding]roundedFrom{}}
	for name, s := range p.inputSlot {
		switch name {
		case compute.InputTokens:
			b.inputs = append(b.inputs, input{e.slots[s], func(b *compute.Batch, dst []byte) []byte { return appendInts(dst, b.Tokens) }})
		case compute.InputPositions:
			b.inputs = append(b.inputs, input{e.slots[s], func(b *compute.Batch, dst []byte) []byte { return appendInts(dst, b.Pos) }})
		default:
			return nil, fmt.Errorf("unknown input %q", name)
		}
	}
	for key, s := range p.rangeSlot {
		a := &compute.Attention{Causal: key.causal, Window: key.window}
		var table []int32
		b.inputs = append(b.inputs, input{e.slots[s], func(b *compute.Batch, dst []byte) []byte {
			dst, table = fillRanges(a, b, dst, table)
			return dst
		}})
	}
	if p.cells != noSlot {
		b.inputs = append(b.inputs, input{e.slots[p.cells], func(b *compute.Batch, dst []byte) []byte {
			for i := range b.Tokens {
				dst = binary.LittleEndian.AppendUint32(dst, uint32(b.Cell(i)))
			}
			return dst
		}})
	}
	b.tokenRows, b.posRows = 1<<31-1, 1<<31-1
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Kind != compute.KindScratch || p.slot[i] == noSlot && n.Op != compute.OpStoreKV {
			continue
		}
		if err := bd.node(i); err != nil {
			return nil, fmt.Errorf("node %d (%s %s): %w", i, n.Op, n.Name, err)
		}
	}
	return b, nil
}

func appendInts(dst []byte, v []int32) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
	}
	return dst
}

// buf returns the buffer holding node t's floats: its slot, or a
// weight's f32 copy; nil for the zero Tensor.
func (bd *binder) buf(t compute.Tensor) (*vk.Buffer, error) {
	if !t.Valid() {
		return nil, nil
	}
	n := bd.g.Node(t)
	switch n.Kind {
	case compute.KindScratch:
		return bd.e.slots[bd.p.slot[t.Index()]], nil
	case compute.KindWeight:
		return bd.e.w.vector(n)
	}
	return nil, fmt.Errorf("input %q read as floats", n.Name)
}

// orConst returns t's buffer, or n floats of v when t is absent.
func (bd *binder) orConst(t compute.Tensor, v float32, n int) (*vk.Buffer, error) {
	if !t.Valid() {
		return bd.e.w.constant(v, n)
	}
	return bd.buf(t)
}

// head is the Range of the first n bytes of buf.
func head(buf *vk.Buffer, n int) vk.Range { return vk.Range{Buf: buf, Size: uint64(n)} }

// node binds scratch node i.
func (bd *binder) node(i int) error {
	e, g, n := bd.e, bd.g, &bd.g.Nodes[i]
	k := e.k
	var out *vk.Buffer
	if s := bd.p.slot[i]; s != noSlot {
		out = e.slots[s]
	}
	var a *vk.Buffer
	if n.Op != compute.OpGetRows && n.Op != compute.OpMatMul { // their first operand is a matrix
		var err error
		if a, err = bd.buf(n.Src[0]); err != nil {
			return err
		}
	}
	rows, cols, elems := n.Shape.Rows, n.Shape.Cols, n.Shape.Elems()
	// inPlaceOn returns the buffer an in-place op works on: out, after a copy
	// of the operand unless the plan gave the op the operand's slot.
	inPlaceOn := func() *vk.Buffer {
		if a != out {
			bd.add([]*vk.Buffer{a}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) {
				st.Copy(head(a, 4*elems), head(out, 4*elems))
			})
		}
		return out
	}
	switch n.Op {
	case compute.OpGetRows:
		wn := g.Node(n.Src[0])
		w, err := e.w.matrix(wn)
		if err != nil {
			return err
		}
		ids := e.slots[bd.p.slot[n.Src[1].Index()]]
		if g.Node(n.Src[1]).Name == compute.InputPositions {
			bd.b.posRows = min(bd.b.posRows, wn.Shape.Rows)
		} else {
			bd.b.tokenRows = min(bd.b.tokenRows, wn.Shape.Rows)
		}
		op, err := k.BindGetRows(bd.b.sets, w, ids.All(), out.All())
		if err != nil {
			return err
		}
		bd.add([]*vk.Buffer{ids}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) { op.Record(st, rows, cols) })
	case compute.OpMatMul:
		w, err := e.w.matrix(g.Node(n.Src[0]))
		if err != nil {
			return err
		}
		x, err := bd.buf(n.Src[1])
		if err != nil {
			return err
		}
		if x, err = bd.rounded(g.Node(n.Src[0]).Type, x, rows, w.Cols); err != nil {
			return err
		}
		bias := vk.Range{}
		if n.Src[2].Valid() {
			bb, err := bd.buf(n.Src[2])
			if err != nil {
				return err
			}
			bias = bb.All()
		}
		op, err := k.BindProduct(bd.b.sets, w, x.All(), out.All(), bias, rows)
		if err != nil {
			return err
		}
		acc := bd.p.accumulate[i]
		reads := []*vk.Buffer{x}
		if acc {
			reads = append(reads, out)
		}
		bd.add(reads, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) {
			op.Record(k, st, rows, w.Cols, w.Rows, 0, acc)
		})
	case compute.OpAdd, compute.OpMul, compute.OpScale, compute.OpGELUMul:
		if bd.p.fused[i] {
			return nil // the matmul accumulated into the residual
		}
		return bd.binary(n, a, out)
	case compute.OpRMSNorm:
		group := normGroup(n)
		w, err := bd.orConst(n.Src[1], 1, group)
		if err != nil {
			return err
		}
		op, err := k.BindRMSNorm(bd.b.sets, a.All(), w.All(), out.All())
		if err != nil {
			return err
		}
		bd.add([]*vk.Buffer{a, w}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) {
			op.Record(st, elems/group, group, 0, 0, n.Params.Eps)
		})
	case compute.OpLayerNorm:
		w, err := bd.orConst(n.Src[1], 1, cols)
		if err != nil {
			return err
		}
		bias, err := bd.orConst(n.Src[2], 0, cols)
		if err != nil {
			return err
		}
		op, err := k.BindLayerNorm(bd.b.sets, a.All(), w.All(), bias.All(), out.All())
		if err != nil {
			return err
		}
		bd.add([]*vk.Buffer{a, w, bias}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) {
			op.Record(st, rows, cols, n.Params.Eps)
		})
	case compute.OpRope:
		r := n.Params.Rope
		freq, err := e.w.ropeFreqs(r)
		if err != nil {
			return err
		}
		data := inPlaceOn()
		op, err := k.BindRope(bd.b.sets, data.All(), freq.All())
		if err != nil {
			return err
		}
		heads := cols / r.HeadDim
		bd.add([]*vk.Buffer{data}, []*vk.Buffer{data}, func(st *vk.Step, b *compute.Batch) {
			// One dispatch per run of consecutive positions: the shader
			// rotates row j of a run by pos0+j.
			runs(len(b.Pos), func(i int) bool { return b.Pos[i] == b.Pos[i-1]+1 }, func(lo, hi int) {
				op.Record(st, hi-lo, heads, r.HeadDim, r.Dims, r.NeoX, int(b.Pos[lo]), lo*cols, cols)
			})
		})
	case compute.OpStoreKV:
		return bd.storeKV(n)
	case compute.OpAttention:
		return bd.attention(i, a, out)
	case compute.OpSiLUMul, compute.OpGELU:
		data := inPlaceOn()
		other := data
		shader := "gelu"
		reads := []*vk.Buffer{data}
		if n.Op == compute.OpSiLUMul {
			var err error
			if other, err = bd.buf(n.Src[1]); err != nil {
				return err
			}
			shader = "silu_mul"
			reads = append(reads, other)
		}
		op, err := k.BindElementwise(bd.b.sets, shader, data.All(), other.All())
		if err != nil {
			return err
		}
		bd.add(reads, []*vk.Buffer{data}, func(st *vk.Step, _ *compute.Batch) { op.Record(st, elems) })
	case compute.OpMoE:
		return bd.moe(i, a, out)
	case compute.OpSoftCap:
		p, err := e.w.pipeline("soft_cap")
		if err != nil {
			return err
		}
		set, err := bd.b.sets.Bind(p, a.All(), out.All())
		if err != nil {
			return err
		}
		push := []uint32{uint32(elems), math.Float32bits(n.Params.Scale)}
		gx, gy := e.groups(elems)
		bd.add([]*vk.Buffer{a}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) { st.Dispatch(p, set, push, gx, gy, 1) })
	case compute.OpView:
		p, err := e.w.pipeline("view")
		if err != nil {
			return err
		}
		set, err := bd.b.sets.Bind(p, a.All(), out.All())
		if err != nil {
			return err
		}
		width := g.Node(n.Src[0]).Shape.Cols
		push := []uint32{uint32(rows), uint32(cols), uint32(width), uint32(n.Params.Off)}
		gx, gy := e.groups(elems)
		bd.add([]*vk.Buffer{a}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) { st.Dispatch(p, set, push, gx, gy, 1) })
	case compute.OpOutputs:
		row := uint64(4 * cols)
		bd.add([]*vk.Buffer{a}, []*vk.Buffer{out}, func(st *vk.Step, b *compute.Batch) {
			o := uint64(0)
			runs(len(b.Tokens), func(i int) bool { return b.Wants(i) == b.Wants(i-1) }, func(lo, hi int) {
				if b.Wants(lo) {
					size := uint64(hi-lo) * row
					st.Copy(vk.Range{Buf: a, Off: uint64(lo) * row, Size: size}, vk.Range{Buf: out, Off: o, Size: size})
					o += size
				}
			})
		})
	default:
		return unsupportedOp(n.Op)
	}
	return nil
}

// deviceOps are the ops the executor has shaders for.
var deviceOps = map[compute.Op]bool{
	compute.OpGetRows: true, compute.OpMatMul: true, compute.OpAdd: true, compute.OpMul: true, compute.OpScale: true,
	compute.OpRMSNorm: true, compute.OpLayerNorm: true, compute.OpRope: true, compute.OpStoreKV: true,
	compute.OpAttention: true, compute.OpSiLUMul: true, compute.OpGELU: true, compute.OpGELUMul: true,
	compute.OpSoftCap: true, compute.OpView: true, compute.OpOutputs: true, compute.OpMoE: true,
}

func unsupportedOp(op compute.Op) error {
	return fmt.Errorf("%w: op %s has no shader on the Vulkan executor", compute.ErrOp, op)
}

// Supports returns an error naming the first op of g the device has no
// shader for, so a model that needs one is refused when it is opened
// (runner.Open) rather than at its first step.
func (w *Weights) Supports(g *compute.Graph) error {
	for i := range g.Nodes {
		if n := &g.Nodes[i]; n.Kind == compute.KindScratch && !deviceOps[n.Op] {
			return unsupportedOp(n.Op)
		}
	}
	return nil
}

// runs calls f for each maximal run [lo, hi) of 0..n-1 whose elements
// each continue the previous one (same(i) for i in (lo, hi)).
func runs(n int, same func(i int) bool, f func(lo, hi int)) {
	lo := 0
	for i := 1; i <= n; i++ {
		if i == n || !same(i) {
			f(lo, i)
			lo = i
		}
	}
}

// groups splits the workgroups of 256 that cover elems over the x and y
// dimensions within the device's per-dimension limit, as vk/ops does;
// the shaders rebuild the index as x + y*X.
func (e *Executor) groups(elems int) (uint32, uint32) {
	n := uint32(elems+255) / 256
	limit := max(e.k.Dev.Info.MaxWorkgroupCount, 1)
	if n <= limit {
		return n, 1
	}
	y := (n + limit - 1) / limit
	return (n + y - 1) / y, y
}

// binary binds add, mul, scale and gelu_mul to the binary shader.
func (bd *binder) binary(n *compute.Node, a, out *vk.Buffer) error {
	e := bd.e
	op := map[compute.Op]uint32{compute.OpAdd: 0, compute.OpMul: 1, compute.OpScale: 2, compute.OpGELUMul: 3}[n.Op]
	b, bCount := a, 1
	if n.Op != compute.OpScale {
		var err error
		if b, err = bd.buf(n.Src[1]); err != nil {
			return err
		}
		bCount = bd.g.Node(n.Src[1]).Shape.Elems()
	}
	p, err := e.w.pipeline("binary")
	if err != nil {
		return err
	}
	set, err := bd.b.sets.Bind(p, a.All(), b.All(), out.All())
	if err != nil {
		return err
	}
	elems := n.Shape.Elems()
	push := []uint32{uint32(elems), uint32(bCount), op, math.Float32bits(n.Params.Scale)}
	gx, gy := e.groups(elems)
	bd.add([]*vk.Buffer{a, b}, []*vk.Buffer{out}, func(st *vk.Step, _ *compute.Batch) { st.Dispatch(p, set, push, gx, gy, 1) })
	return nil
}

// storeKV writes each token's keys and values into its cell of the
// cache layer: for an F32 cache one copy per run of consecutive cells
// (per sequence, for the batches a session makes), not per token; for
// F16 and Q8_0 the store_kv shader, which rounds or quantizes them.
func (bd *binder) storeKV(n *compute.Node) error {
	e := bd.e
	l := n.Params.Layer
	if l >= len(e.keys) {
		return fmt.Errorf("layer %d of a cache of %d", l, len(e.keys))
	}
	k, err := bd.buf(n.Src[0])
	if err != nil {
		return err
	}
	v, err := bd.buf(n.Src[1])
	if err != nil {
		return err
	}
	kc, vc := e.keys[l], e.values[l]
	if e.cache.Type != gguf.TypeF32 {
		cells := e.slots[bd.p.cells]
		op, err := e.k.BindStoreKV(bd.b.sets, e.cache.Type, k.All(), v.All(), kc.All(), vc.All(), cells.All())
		if err != nil {
			return err
		}
		w := e.cache.Width
		bd.add([]*vk.Buffer{k, v, cells}, []*vk.Buffer{kc, vc}, func(st *vk.Step, b *compute.Batch) { op.Record(st, len(b.Tokens), w, w) })
		return nil
	}
	row := uint64(4 * e.cache.Width)
	bd.add([]*vk.Buffer{k, v}, []*vk.Buffer{kc, vc}, func(st *vk.Step, b *compute.Batch) {
		runs(len(b.Tokens), func(i int) bool { return b.Cell(i) == b.Cell(i-1)+1 }, func(lo, hi int) {
			size, cell := uint64(hi-lo)*row, uint64(b.Cell(lo))*row
			st.Copy(vk.Range{Buf: k, Off: uint64(lo) * row, Size: size}, vk.Range{Buf: kc, Off: cell, Size: size})
			st.Copy(vk.Range{Buf: v, Off: uint64(lo) * row, Size: size}, vk.Range{Buf: vc, Off: cell, Size: size})
		})
	})
	return nil
}

// attention binds attention node i over its layer's cache, each query
// row seeing the key cells its range and page table give.
func (bd *binder) attention(i int, q, out *vk.Buffer) error {
	e, n := bd.e, &bd.g.Nodes[i]
	a, l := n.Params.Attn, n.Params.Layer
	if l >= len(e.keys) {
		return fmt.Errorf("layer %d of a cache of %d", l, len(e.keys))
	}
	ranges := e.slots[bd.p.rangeSlot[rangeKey{a.Causal, a.Window}]]
	kc, vc := e.keys[l], e.values[l]
	// The executor's cache type, not the graph's: the type is chosen
	// when the executor is opened. An f16 cache rounds as llama.cpp's.
	op, err := e.k.BindAttention(bd.b.sets, ops.AttentionKind{Cache: e.cache.Type, Flash: e.cache.Flash, HeadDim: a.HeadDim},
		q.All(), kc.All(), vc.All(), out.All(), ranges.All())
	if err != nil {
		return err
	}
	sh := ops.AttentionShape{N: n.Shape.Rows, Heads: a.Heads, KVHeads: a.KVHeads, QStride: n.Shape.Cols,
		KVStride: e.cache.Width, PageCells: compute.PageCells, Scale: n.Params.Scale, SoftCap: a.SoftCap}
	bd.add([]*vk.Buffer{q, kc, vc, ranges}, []*vk.Buffer{out}, func(st *vk.Step, b *compute.Batch) { op.Record(st, sh) })
	return nil
}

// The modes of shaders/moe.comp.
const (
	moeRoute uint32 = iota
	moeSiLU
	moeRound
	moeAccumulate
)

// moe binds OpMoE i of input x into out without leaving the device: the
// moe shader routes every token to a dense row of expert weights (zero
// for the experts it did not choose); then each expert's gate, up and
// down products run over all the tokens, and each token's output
// accumulates its weight times the expert's rows. Every expert thus runs
// for every token, Experts/Used times the expert work of running only the
// chosen ones (4× for Mixtral's 2 of 8), but the step stays one submit,
// with no read back of the routing in the middle of it.
func (bd *binder) moe(i int, x, out *vk.Buffer) error {
	e, g, n := bd.e, bd.g, &bd.g.Nodes[i]
	m, tokens, width := n.Params.MoE, n.Shape.Rows, n.Shape.Cols
	logits, err := bd.buf(n.Src[1])
	if err != nil {
		return err
	}
	stacks := [3]*compute.Node{g.Node(n.Src[2]), g.Node(n.Src[3]), g.Node(n.Src[4])}
	ff := stacks[0].Shape.Rows / m.Experts
	s := bd.p.moe[i]
	route, gate, up, down := e.slots[s.route], e.slots[s.gate], e.slots[s.up], e.slots[s.down]
	p, err := e.w.pipeline("moe")
	if err != nil {
		return err
	}
	// pass records mode over count values of the shader's buffers a, b
	// and o.
	pass := func(mode uint32, count int, a, b, o *vk.Buffer, reads []*vk.Buffer, half bool, expert int) error {
		set, err := bd.b.sets.Bind(p, a.All(), b.All(), o.All())
		if err != nil {
			return err
		}
		h := uint32(0)
		if half {
			h = 1
		}
		renorm := uint32(0)
		if m.Renorm {
			renorm = 1
		}
		push := []uint32{uint32(count), mode, uint32(m.Experts), uint32(m.Used), renorm, h, uint32(width), uint32(expert)}
		gx, gy := e.groups(count)
		bd.add(reads, []*vk.Buffer{o}, func(st *vk.Step, _ *compute.Batch) { st.Dispatch(p, set, push, gx, gy, 1) })
		return nil
	}
	if err := pass(moeRoute, tokens, logits, logits, route, []*vk.Buffer{logits}, false, 0); err != nil {
		return err
	}
	in := x
	if s.half != noSlot { // ggml's mul_mat_id converts the inputs of an F16 stack to f16
		in = e.slots[s.half]
		if err := pass(moeRound, tokens*width, x, x, in, []*vk.Buffer{x}, false, 0); err != nil {
			return err
		}
	}
	// product records y = expert ex's matrix of stack w times the rows of
	// src (cols wide), after rounding them as the stack's type wants.
	product := func(w *compute.Node, ex int, src, y *vk.Buffer, cols, yCols int) error {
		mat, err := e.w.matrix(compute.ExpertSlice(w, ex, m.Experts))
		if err != nil {
			return err
		}
		src, err = bd.rounded(w.Type, src, tokens, cols)
		if err != nil {
			return err
		}
		op, err := e.k.BindProduct(bd.b.sets, mat, src.All(), y.All(), vk.Range{}, tokens)
		if err != nil {
			return err
		}
		bd.add([]*vk.Buffer{src}, []*vk.Buffer{y}, func(st *vk.Step, _ *compute.Batch) {
			op.Record(e.k, st, tokens, cols, yCols, 0, false)
		})
		return nil
	}
	for ex := range m.Experts {
		if err := product(stacks[0], ex, in, gate, width, ff); err != nil {
			return err
		}
		if err := product(stacks[1], ex, in, up, width, ff); err != nil {
			return err
		}
		if err := pass(moeSiLU, tokens*ff, up, up, gate, []*vk.Buffer{up, gate}, stacks[2].Type == gguf.TypeF16, ex); err != nil {
			return err
		}
		if err := product(stacks[2], ex, gate, down, ff, width); err != nil {
			return err
		}
		if err := pass(moeAccumulate, tokens*width, down, route, out, []*vk.Buffer{down, route, out}, false, ex); err != nil {
			return err
		}
	}
	return nil
}
