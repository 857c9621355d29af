package ops

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
)

// f32 is a push-constant word holding a float.
func f32(x float32) uint32 { return math.Float32bits(x) }

// matvecBatch is how many inputs one matvec workgroup takes (MAXB in
// matvec.comp); a larger batch is split over the dispatch's z dimension.
const matvecBatch = 16

// MatVec is y = W x (+ bias), bound to its buffers.
type MatVec struct {
	W     *Weight
	parts []mvPart
	bias  bool
	short bool // one invocation per row
	push  [9]uint32
	// tiled holds the matmul shader's sets where BindProduct bound them.
	tiled []mvPart
	tpush [8]uint32
}

type mvPart struct {
	p   *vk.Pipeline
	set vk.Set
	c   Chunk
}

// BindMatVec binds W to input x, output y and, when bias.Buf is not nil,
// a bias vector of W.Rows floats.
func (k *Kernels) BindMatVec(sets *vk.Sets, w *Weight, x, y, bias vk.Range) (*MatVec, error) {
	p, err := k.pipeline("matvec", w.Type)
	if err != nil {
		return nil, err
	}
	m := &MatVec{W: w, bias: bias.Buf != nil, short: k.shortRows(w.Cols)}
	if !m.bias {
		bias = x // bound but never read
	}
	for _, c := range w.Chunks {
		set, err := sets.Bind(p, c.Buf.All(), x, y, bias)
		if err != nil {
			return nil, fmt.Errorf("ops: matvec %q: %w", w.Name, err)
		}
		m.parts = append(m.parts, mvPart{p: p, set: set, c: c})
	}
	return m, nil
}

// Record adds y[yOff + b*yStride + r] (+)= W[r] . x[b*xStride:] for the n
// inputs; accumulate adds to y instead of overwriting it. A batch of
// Kernels.TiledFrom or more runs on the matmul shader where BindProduct
// bound it.
func (m *MatVec) Record(k *Kernels, s *vk.Step, n, xStride, yStride, yOff int, accumulate bool) {
	flags := uint32(0)
	if accumulate {
		flags |= 1
	}
	if m.bias {
		flags |= 2
	}
	if len(m.tiled) > 0 && k.TiledFrom > 0 && n >= k.TiledFrom {
		m.recordTiled(k, s, n, xStride, yStride, yOff, flags)
		return
	}
	if m.short {
		flags |= 4
	}
	for _, pt := range m.parts {
		rows := k.matvecRows(m.W.Cols)
		if m.short {
			rows = max(rows, k.WG*laneRows(pt.c.Rows, k.WG, n))
		}
		m.push = [9]uint32{uint32(m.W.Cols), uint32(pt.c.Rows), uint32(n), uint32(xStride), uint32(yStride), uint32(yOff), uint32(pt.c.Row0), flags, rows}
		gx, gy := k.groups((uint32(pt.c.Rows) + rows - 1) / rows)
		s.Dispatch(pt.p, pt.set, m.push[:], gx, gy, (uint32(n)+matvecBatch-1)/matvecBatch)
	}
}

// laneRows is how many rows each of wg invocations takes in a matvec
// of rows rows over n inputs that gives invocations whole rows: for one
// input (a decode step), four or two, which share their input's loads
// (matvec.comp's dot1_rows); for a batch, two (partial_pair); as long as
// that leaves at least two workgroups to share the cores; otherwise one.
// On lavapipe, a 32000x288 Q4_0 product took 6–8 ms for one input with
// four rows an invocation, 10–12 with two and 15–16 with one (a 768x288
// one 240–310, 420–550 and 700–720 µs); for 8 inputs, 42–45 ms with two
// rows and 80 with one (4 inputs: 27 and 55).
func laneRows(rows int, wg uint32, n int) uint32 {
	switch {
	case n != 1 && rows >= 2*2*int(wg):
		return 2
	case n != 1:
		return 1
	case rows >= 2*4*int(wg):
		return 4
	case rows >= 2*2*int(wg):
		return 2
	}
	return 1
}

// RMSNorm is out[r] = x[r] / rms(x[r]) * w, bound to its buffers.
type RMSNorm struct {
	p    *vk.Pipeline
	set  vk.Set
	push [5]uint32
}

// BindRMSNorm binds input x, f32 weights w and output out (which may be x).
func (k *Kernels) BindRMSNorm(sets *vk.Sets, x, w, out vk.Range) (*RMSNorm, error) {
	p, err := k.pipeline("rms_norm", gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, x, w, out)
	if err != nil {
		return nil, fmt.Errorf("ops: rms_norm: %w", err)
	}
	return &RMSNorm{p: p, set: set}, nil
}

// Record normalises rows rows of cols elements, starting at element
// offsets xOff and outOff.
func (r *RMSNorm) Record(s *vk.Step, rows, cols, xOff, outOff int, eps float32) {
	r.push = [5]uint32{uint32(cols), uint32(rows), uint32(xOff), uint32(outOff), f32(eps)}
	s.Dispatch(r.p, r.set, r.push[:], uint32(rows), 1, 1)
}

// LayerNorm is out[r] = (x[r] - mean) / sqrt(var + eps) * w + b.
type LayerNorm struct {
	p    *vk.Pipeline
	set  vk.Set
	push [3]uint32
}

// BindLayerNorm binds input x, f32 weights w and bias b, and output out
// (which may be x).
func (k *Kernels) BindLayerNorm(sets *vk.Sets, x, w, b, out vk.Range) (*LayerNorm, error) {
	p, err := k.pipeline("layer_norm", gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, x, w, b, out)
	if err != nil {
		return nil, fmt.Errorf("ops: layer_norm: %w", err)
	}
	return &LayerNorm{p: p, set: set}, nil
}

// Record normalises rows rows of cols elements.
func (l *LayerNorm) Record(s *vk.Step, rows, cols int, eps float32) {
	l.push = [3]uint32{uint32(cols), uint32(rows), f32(eps)}
	s.Dispatch(l.p, l.set, l.push[:], uint32(rows), 1, 1)
}

// Rope rotates heads in place by position, bound to its data buffer and
// a table of rope_dim/2 frequencies.
type Rope struct {
	p    *vk.Pipeline
	set  vk.Set
	push [8]uint32
}

// BindRope binds data (rotated in place) and freq.
func (k *Kernels) BindRope(sets *vk.Sets, data, freq vk.Range) (*Rope, error) {
	p, err := k.pipeline("rope", gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, data, freq)
	if err != nil {
		return nil, fmt.Errorf("ops: rope: %w", err)
	}
	return &Rope{p: p, set: set}, nil
}

// Record rotates n rows (stride elements apart, the first at off) of
// heads heads for positions pos0, pos0+1, ...
func (r *Rope) Record(s *vk.Step, n, heads, headDim, ropeDim int, neox bool, pos0, off, stride int) {
	nx := uint32(0)
	if neox {
		nx = 1
	}
	r.push = [8]uint32{uint32(n), uint32(heads), uint32(headDim), uint32(ropeDim), nx, uint32(pos0), uint32(off), uint32(stride)}
	s.Dispatch(r.p, r.set, r.push[:], uint32(ropeDim/2*heads+63)/64, uint32(n), 1)
}

// Attention is softmax(q k^T * scale) v over a KV cache, the scaled
// scores optionally soft-capped.
type Attention struct {
	p       *vk.Pipeline
	set     vk.Set
	headDim int
	limit   uint32 // workgroups a dispatch's y dimension takes at most
	push    [12]uint32
}

// AttentionShape describes one Attention record: N query rows (of the
// bound head dimension).
type AttentionShape struct {
	N, Heads, KVHeads int
	QStride           int // elements between query rows
	KVStride, KVOff   int // values of a cell's row; cells before position 0's
	Pos0              int // position of query row 0 (causal)
	// Causal rows see positions 0..Pos0+row in cells 0..Pos0+row;
	// otherwise each row sees the key range the ranges buffer gives it,
	// in the cells its page table gives.
	Causal    bool
	PageCells int // cells of a page in the ranges' page tables
	Scale     float32
	// SoftCap, when > 0, maps the scaled scores s to SoftCap·tanh(s/SoftCap)
	// before the softmax.
	SoftCap float32
}

// KVTypes are the KV cache types the shaders store and read.
var KVTypes = []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0}

// kvCode is the shaders' number for KV cache type t (KV in
// attention.comp, TYPE in store_kv.comp).
func kvCode(t gguf.Type) uint32 {
	switch t {
	case gguf.TypeF16:
		return 1
	case gguf.TypeQ8_0:
		return 2
	}
	return 0
}

// KVRowBytes is the bytes of one cell's row of width keys (or values) in
// a cache of type t: 4 or 2 a value, or for Q8_0 the int8 quants then
// the f16 block scales in whole 32-bit words (2 bytes a block of 32
// when width is a multiple of 64, as ggml's 34-byte blocks; 4 for an odd
// block count). It is 0 for a type or width the shaders cannot keep
// (F16 needs an even width, Q8_0 whole blocks).
func KVRowBytes(t gguf.Type, width int) int {
	switch {
	case t == gguf.TypeF32:
		return 4 * width
	case t == gguf.TypeF16 && width%2 == 0:
		return 2 * width
	case t == gguf.TypeQ8_0 && width%32 == 0:
		return width + 4*((width+63)/64)
	}
	return 0
}

// StoreKV writes tokens' keys and values into their cells of an F16 or
// Q8_0 KV cache layer (an F32 one takes buffer copies).
type StoreKV struct {
	p    *vk.Pipeline
	set  vk.Set
	push [2]uint32
}

// BindStoreKV binds keys and values (rows of float32), the layer's key
// and value caches of type cache, and cells: a uint32 cell per token.
func (k *Kernels) BindStoreKV(sets *vk.Sets, cache gguf.Type, keys, values, keyCache, valueCache, cells vk.Range) (*StoreKV, error) {
	if cache != gguf.TypeF16 && cache != gguf.TypeQ8_0 {
		return nil, fmt.Errorf("ops: store_kv into a %s cache: only F16 and Q8_0 (F32 is copied)", cache)
	}
	p, err := k.pipeline("store_kv", cache)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, keys, values, keyCache, valueCache, cells)
	if err != nil {
		return nil, fmt.Errorf("ops: store_kv: %w", err)
	}
	return &StoreKV{p: p, set: set}, nil
}

// Record adds the store of n tokens' rows of width values, stride
// elements apart in the keys and values.
func (s *StoreKV) Record(st *vk.Step, n, width, stride int) {
	s.push = [2]uint32{uint32(width), uint32(stride)}
	st.Dispatch(s.p, s.set, s.push[:], 1, uint32(n), 1)
}

// AttentionKind is what an attention pipeline is made for.
type AttentionKind struct {
	// Cache is how the cache keeps its rows (KVTypes, laid out as
	// KVRowBytes says). F16 follows llama.cpp's f16 KV cache: queries are
	// rounded to f16 as read, and the normalised attention weights before
	// they meet v (shaders/attention.comp: two passes over the keys).
	Cache gguf.Type
	// Flash is llama.cpp's flash attention over an F16 cache: the queries
	// rounded, the weights not, the softmax online in one pass (the other
	// types' arithmetic already).
	Flash bool
	// HeadDim is the heads' dimensions (the pipeline holds that many
	// value sums in registers).
	HeadDim int
}

// BindAttention binds queries, cached keys and values, output and, for
// non-causal attention, ranges (a zero Range when causal): per query row
// three uint32s, the first and end key positions and the index in ranges
// of the row's page table, whose entry j is the cell of the row's
// position j·PageCells (a page's cells are consecutive). Attention needs
// no scratch: it is fused and tiled, so the context it covers is bounded
// by the cache alone.
func (k *Kernels) BindAttention(sets *vk.Sets, kind AttentionKind, q, keys, values, out, ranges vk.Range) (*Attention, error) {
	cache, headDim := kind.Cache, kind.HeadDim
	if KVRowBytes(cache, 32) == 0 {
		return nil, fmt.Errorf("ops: attention over a %s cache: want F32, F16 or Q8_0", cache)
	}
	if headDim <= 0 {
		return nil, fmt.Errorf("ops: attention with a head dimension of %d", headDim)
	}
	// The value sums are registers, PAIRS pairs an invocation: one
	// pipeline per multiple of the pairs the workgroup covers.
	cover := 2 * int(k.AttentionWG)
	dims := (headDim + cover - 1) / cover * cover
	p, err := k.attention(cache, uint32(dims), kind.Flash && cache == gguf.TypeF16)
	if err != nil {
		return nil, err
	}
	if ranges.Buf == nil {
		ranges = q // bound but never read
	}
	set, err := sets.Bind(p, q, keys, values, out, ranges)
	if err != nil {
		return nil, fmt.Errorf("ops: attention: %w", err)
	}
	return &Attention{p: p, set: set, headDim: headDim, limit: max(k.Dev.Info.MaxWorkgroupCountY, 1)}, nil
}

// Record adds the attention of sh.N query rows, in one dispatch unless
// the rows exceed the device's workgroups in y (each row's result is
// the same either way).
func (a *Attention) Record(s *vk.Step, sh AttentionShape) {
	causal := uint32(0)
	if sh.Causal {
		causal = 1
	}
	for r0 := 0; r0 < sh.N; r0 += int(a.limit) {
		a.push = [12]uint32{uint32(sh.Heads), uint32(sh.KVHeads), uint32(a.headDim), uint32(sh.QStride), uint32(sh.KVStride),
			uint32(sh.KVOff), uint32(sh.Pos0), causal, f32(sh.Scale), f32(sh.SoftCap), uint32(r0), uint32(max(sh.PageCells, 1))}
		s.Dispatch(a.p, a.set, a.push[:], uint32(sh.Heads), uint32(min(int(a.limit), sh.N-r0)), 1)
	}
}

// Elementwise is an op over count elements: silu_mul (a = silu(a)*b),
// add (a += b) or gelu (a = GELU(a); b is not used).
type Elementwise struct {
	k    *Kernels
	p    *vk.Pipeline
	set  vk.Set
	push [1]uint32
}

// BindElementwise binds shader ("silu_mul", "add" or "gelu") to a and b.
func (k *Kernels) BindElementwise(sets *vk.Sets, shader string, a, b vk.Range) (*Elementwise, error) {
	ranges := []vk.Range{a, b}
	switch shader {
	case "silu_mul", "add":
	case "gelu":
		ranges = ranges[:1]
	default:
		return nil, fmt.Errorf("ops: %q is not an elementwise op", shader)
	}
	p, err := k.pipeline(shader, gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, ranges...)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", shader, err)
	}
	return &Elementwise{k: k, p: p, set: set}, nil
}

// Record applies the op to the first count elements.
func (e *Elementwise) Record(s *vk.Step, count int) {
	e.push[0] = uint32(count)
	gx, gy := e.k.groups(uint32(count+255) / 256)
	s.Dispatch(e.p, e.set, e.push[:], gx, gy, 1)
}

// GetRows looks rows of a table up by id.
type GetRows struct {
	W     *Weight
	parts []mvPart
	push  [5]uint32
}

// BindGetRows binds table w, an int32 id buffer and the f32 output.
func (k *Kernels) BindGetRows(sets *vk.Sets, w *Weight, ids, out vk.Range) (*GetRows, error) {
	p, err := k.pipeline("get_rows", w.Type)
	if err != nil {
		return nil, err
	}
	g := &GetRows{W: w}
	for _, c := range w.Chunks {
		set, err := sets.Bind(p, c.Buf.All(), ids, out)
		if err != nil {
			return nil, fmt.Errorf("ops: get_rows %q: %w", w.Name, err)
		}
		g.parts = append(g.parts, mvPart{p: p, set: set, c: c})
	}
	return g, nil
}

// Record writes the rows of the first n ids, outStride elements apart.
func (g *GetRows) Record(s *vk.Step, n, outStride int) {
	for _, pt := range g.parts {
		g.push = [5]uint32{uint32(g.W.Cols), uint32(n), uint32(pt.c.Row0), uint32(pt.c.Rows), uint32(outStride)}
		s.Dispatch(pt.p, pt.set, g.push[:], uint32(g.W.Cols+63)/64, uint32(n), 1)
	}
}
