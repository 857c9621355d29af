package compute

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// Sentinel errors of graph building.
var (
	// ErrShape: an op's operands disagree, or a weight's shape is not what
	// the architecture expects.
	ErrShape = errors.New("compute: shape mismatch")
	// ErrMissing: a weight the architecture needs is not in the file.
	ErrMissing = errors.New("compute: missing tensor")
	// ErrType: a weight's type has no dequantization (or, for a matmul, no
	// kernels on some backend).
	ErrType = errors.New("compute: unsupported tensor type")
	// ErrOp: an executor has no implementation of an op the graph uses.
	ErrOp = errors.New("compute: op not implemented by the executor")
)

// Graph is a built model graph for one batch shape: nodes in an order in
// which each comes after its sources.
type Graph struct {
	Nodes []Node
	// Out is the result: one row per output token (logits, or hidden
	// states for an embedding graph).
	Out   Tensor
	Batch BatchShape
	// Cache is the KV cache the graph's StoreKV and Attention ops use.
	Cache CacheShape
	// Weights names every weight the graph reads.
	Weights map[string]bool
}

// CacheShape is the KV cache a graph needs: per layer, keys and values of
// Width values per cell, stored as Type. A graph's builder sets F16, as
// llama.cpp's default cache (KeepCacheF32 for encoders); whoever opens an
// executor may choose another of KVTypes for it (runner.Config.KVType),
// and the executor's type is what it stores and attends with. See
// KVTypes for what each type rounds.
type CacheShape struct {
	Layers, Width int
	Type          gguf.Type
	// Flash has attention over the cache take flash attention's
	// arithmetic (llama.cpp's --flash-attn): a softmax folded block by
	// block into the output (online), with the weights meeting the values
	// unrounded where an f16 cache otherwise rounds them to f16. Where an
	// executor has no flash kernel for the cache's type, its attention
	// already leaves the weights unrounded (q8_0, f32), the same
	// arithmetic but for the order of its sums.
	Flash bool
}

// Node returns t's node.
func (g *Graph) Node(t Tensor) *Node { return &g.Nodes[t.Index()] }

// Builder builds a graph op by op. The first error (a missing weight, a
// shape mismatch) is kept and returned by Finish; ops after it return the
// zero Tensor, so an architecture's builder needs no error checks of its
// own.
type Builder struct {
	f       *gguf.File
	g       *Graph
	batch   BatchShape
	err     error
	tokens  Tensor
	pos     Tensor
	weights map[string]Tensor // each file tensor is one node, however often named
}

// NewBuilder starts a graph over the weights of f for batches of shape.
func NewBuilder(f *gguf.File, shape BatchShape) *Builder {
	g := &Graph{Batch: shape, Weights: map[string]bool{}, Cache: CacheShape{Type: gguf.TypeF16}}
	return &Builder{f: f, batch: shape, g: g, weights: map[string]Tensor{}}
}

// KeepCacheF32 stores the graph's keys and values in float32 rather than
// f16: encoders, whose attention llama.cpp computes in f32 without a
// cache.
func (b *Builder) KeepCacheF32() { b.g.Cache.Type = gguf.TypeF32 }

// Batch returns the shape of the batches the graph is for.
func (b *Builder) Batch() BatchShape { return b.batch }

// Err returns the first error so far.
func (b *Builder) Err() error { return b.err }

// Fail records err (the first one wins) for a builder that finds the
// model wrong in a way the ops cannot see.
func (b *Builder) Fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) failf(sentinel error, format string, args ...any) Tensor {
	b.Fail(fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	return Tensor{}
}

func (b *Builder) add(n Node) Tensor {
	b.g.Nodes = append(b.g.Nodes, n)
	return Tensor{id: int32(len(b.g.Nodes))}
}

// node returns t's node, or nil after an error or for the zero Tensor.
func (b *Builder) node(t Tensor) *Node {
	if b.err != nil || !t.Valid() {
		return nil
	}
	return &b.g.Nodes[t.Index()]
}

// Weight returns the file's tensor name, which must have shape {cols,
// rows} (rows 1 for a vector).
func (b *Builder) Weight(name string, cols, rows int) Tensor {
	return b.weight(name, cols, rows, false)
}

// OptionalWeight is Weight for a tensor the model may lack: the zero
// Tensor when name is absent. Ops treat a zero optional operand (a bias, a
// norm's weight) as absent.
func (b *Builder) OptionalWeight(name string, cols, rows int) Tensor {
	return b.weight(name, cols, rows, true)
}

func (b *Builder) weight(name string, cols, rows int, optional bool) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	if t, ok := b.weights[name]; ok {
		if n := b.node(t); n.Shape != (Shape{cols, rows}) {
			return b.failf(ErrShape, "tensor %q used as [%d %d] and as %v", name, cols, rows, n.Shape)
		}
		return t
	}
	b.g.Weights[name] = true
	info, err := b.f.Tensor(name)
	if errors.Is(err, gguf.ErrNotFound) && optional {
		return Tensor{}
	}
	if err != nil {
		return b.failf(ErrMissing, "%v", err)
	}
	dims := make([]int, 0, len(info.Dims))
	for _, d := range info.Dims {
		dims = append(dims, int(d))
	}
	for len(dims) > 2 && dims[len(dims)-1] == 1 { // ggml drops trailing 1s
		dims = dims[:len(dims)-1]
	}
	if len(dims) == 1 {
		dims = append(dims, 1)
	}
	if len(dims) != 2 || dims[0] != cols || dims[1] != rows {
		return b.failf(ErrShape, "tensor %q has shape %v, want [%d %d]", name, info.Dims, cols, rows)
	}
	return b.leaf(info, cols, rows)
}

// leaf adds the weight node of info, read as [cols rows].
func (b *Builder) leaf(info *gguf.TensorInfo, cols, rows int) Tensor {
	name := info.Name
	if !quant.CanDequantize(info.Type) {
		return b.failf(ErrType, "tensor %q has type %s", name, info.Type)
	}
	data := b.f.TensorData(info)
	rb, err := info.Type.RowBytes(cols)
	if err != nil || len(data) != rb*rows {
		return b.failf(ErrShape, "tensor %q: %d bytes do not hold [%d %d] of %s", name, len(data), cols, rows, info.Type)
	}
	t := b.add(Node{Kind: KindWeight, Type: info.Type, Shape: Shape{cols, rows}, Name: name, Weight: data})
	b.weights[name] = t
	return t
}

// Experts returns the file's stack of expert matrices name, which must
// have shape {cols, rows, experts} (ggml's order): one weight of
// experts·rows rows, expert e's matrix at rows [e·rows, (e+1)·rows).
func (b *Builder) Experts(name string, cols, rows, experts int) Tensor {
	if b.err != nil {
		return Tensor{}
	}
	if t, ok := b.weights[name]; ok {
		if n := b.node(t); n.Shape != (Shape{cols, rows * experts}) {
			return b.failf(ErrShape, "tensor %q used as [%d %d] and as %d experts of [%d %d]", name, n.Shape.Cols, n.Shape.Rows, experts, cols, rows)
		}
		return t
	}
	b.g.Weights[name] = true
	info, err := b.f.Tensor(name)
	if err != nil {
		return b.failf(ErrMissing, "%v", err)
	}
	if len(info.Dims) != 3 || int(info.Dims[0]) != cols || int(info.Dims[1]) != rows || int(info.Dims[2]) != experts {
		return b.failf(ErrShape, "tensor %q has shape %v, want [%d %d %d]", name, info.Dims, cols, rows, experts)
	}
	return b.leaf(info, cols, rows*experts)
}

// Tokens returns the batch's token ids: one row of Tokens int32 values.
func (b *Builder) Tokens() Tensor {
	if b.err == nil && !b.tokens.Valid() {
		b.tokens = b.add(Node{Kind: KindInput, Type: gguf.TypeI32, Shape: Shape{b.batch.Tokens, 1}, Name: InputTokens})
	}
	return b.tokens
}

// Positions returns the batch's positions, as Tokens (for learned
// position embeddings).
func (b *Builder) Positions() Tensor {
	if b.err == nil && !b.pos.Valid() {
		b.pos = b.add(Node{Kind: KindInput, Type: gguf.TypeI32, Shape: Shape{b.batch.Tokens, 1}, Name: InputPositions})
	}
	return b.pos
}

// The names of the inputs, which executors fill from the batch.
const (
	InputTokens    = "tokens"
	InputPositions = "positions"
)

// WeightRows returns rows [first, first+n) of the file's tensor name,
// which must have shape {cols, rows}: a weight of its own (e.g. the
// token-type embedding BERT adds for type 0).
func (b *Builder) WeightRows(name string, cols, rows, first, n int) Tensor {
	w := b.node(b.Weight(name, cols, rows))
	if w == nil {
		return Tensor{}
	}
	if first < 0 || n <= 0 || first+n > rows {
		return b.failf(ErrShape, "rows [%d, %d) of %q, which has %d", first, first+n, name, rows)
	}
	rb := len(w.Weight) / rows
	return b.add(Node{Kind: KindWeight, Type: w.Type, Shape: Shape{cols, n}, Name: fmt.Sprintf("%s[%d:%d]", name, first, first+n),
		Weight: w.Weight[first*rb : (first+n)*rb]})
}

func (b *Builder) op(op Op, shape Shape, p Params, src ...Tensor) Tensor {
	n := Node{Kind: KindScratch, Op: op, Type: gguf.TypeF32, Shape: shape, Params: p, Name: op.String()}
	copy(n.Src[:], src)
	return b.add(n)
}

// activation returns t's node, failing unless it is a float32 matrix of
// one row per token (or rows rows, when rows > 0).
func (b *Builder) activation(what string, t Tensor) *Node {
	n := b.node(t)
	if n == nil {
		if b.err == nil {
			b.failf(ErrShape, "%s: no operand", what)
		}
		return nil
	}
	if n.Kind == KindWeight && n.Type != gguf.TypeF32 || n.Kind == KindInput {
		b.failf(ErrShape, "%s: operand %q is %s %s, not float32 activations", what, n.Name, n.Kind, n.Type)
		return nil
	}
	return n
}

// GetRows returns the rows of the embedding table w picked by ids
// (Tokens or Positions): one row of w.Cols per token.
func (b *Builder) GetRows(w, ids Tensor) Tensor {
	n, in := b.node(w), b.node(ids)
	if n == nil || n.Kind != KindWeight || in == nil || in.Kind != KindInput {
		return b.failf(ErrShape, "get_rows: needs a weight table and an input of ids")
	}
	return b.op(OpGetRows, Shape{n.Shape.Cols, b.batch.Tokens}, Params{}, w, ids)
}

// MatMul returns w·x for each row x, plus bias (optional, one row of
// w.Rows).
func (b *Builder) MatMul(w, x, bias Tensor) Tensor {
	wn, xn := b.node(w), b.activation("matmul", x)
	if wn == nil || xn == nil {
		return b.failf(ErrShape, "matmul: missing operand")
	}
	if wn.Kind != KindWeight {
		return b.failf(ErrShape, "matmul: %q is not a weight", wn.Name)
	}
	if wn.Shape.Cols != xn.Shape.Cols {
		return b.failf(ErrShape, "matmul: %q %v by activations %v", wn.Name, wn.Shape, xn.Shape)
	}
	if bn := b.node(bias); bn != nil && bn.Shape != (Shape{wn.Shape.Rows, 1}) {
		return b.failf(ErrShape, "matmul: bias %q %v for %d outputs", bn.Name, bn.Shape, wn.Shape.Rows)
	}
	return b.op(OpMatMul, Shape{wn.Shape.Rows, xn.Shape.Rows}, Params{}, w, x, bias)
}

// binary checks a and b for OpAdd/OpMul: b has a's shape or is one row of
// a's width.
func (b *Builder) binary(op Op, x, y Tensor) Tensor {
	xn, yn := b.activation(op.String(), x), b.node(y)
	if xn == nil || yn == nil {
		return b.failf(ErrShape, "%s: missing operand", op)
	}
	if yn.Shape != xn.Shape && yn.Shape != (Shape{xn.Shape.Cols, 1}) {
		return b.failf(ErrShape, "%s: %v and %v", op, xn.Shape, yn.Shape)
	}
	if yn.Kind == KindWeight && !quant.CanDequantize(yn.Type) || yn.Kind == KindInput {
		return b.failf(ErrShape, "%s: operand %q cannot be read as floats", op, yn.Name)
	}
	return b.op(op, xn.Shape, Params{}, x, y)
}

// Add returns x+y; y may be one row, added to every row of x.
func (b *Builder) Add(x, y Tensor) Tensor { return b.binary(OpAdd, x, y) }

// Mul returns x·y elementwise; y may be one row.
func (b *Builder) Mul(x, y Tensor) Tensor { return b.binary(OpMul, x, y) }

// Scale returns x·s.
func (b *Builder) Scale(x Tensor, s float32) Tensor {
	xn := b.activation("scale", x)
	if xn == nil {
		return Tensor{}
	}
	return b.op(OpScale, xn.Shape, Params{Scale: s}, x)
}

// SoftCap returns x soft-capped to (-limit, limit): limit·tanh(x/limit).
func (b *Builder) SoftCap(x Tensor, limit float32) Tensor {
	xn := b.activation("soft_cap", x)
	if xn == nil {
		return Tensor{}
	}
	if !(limit > 0) {
		return b.failf(ErrShape, "soft_cap: cap %g is not > 0", limit)
	}
	return b.op(OpSoftCap, xn.Shape, Params{Scale: limit}, x)
}

// RMSNorm normalises each row of x by its root mean square and multiplies
// by the optional weight row w.
func (b *Builder) RMSNorm(x, w Tensor, eps float32) Tensor {
	return b.rmsNorm(x, w, eps, 0)
}

// HeadRMSNorm normalises each group of group columns of x (each head) on
// its own and multiplies by the optional weight w of group values (qwen3's
// q and k norms).
func (b *Builder) HeadRMSNorm(x, w Tensor, eps float32, group int) Tensor {
	return b.rmsNorm(x, w, eps, group)
}

func (b *Builder) rmsNorm(x, w Tensor, eps float32, group int) Tensor {
	xn := b.activation("rms_norm", x)
	if xn == nil {
		return Tensor{}
	}
	width := xn.Shape.Cols
	if group > 0 {
		if xn.Shape.Cols%group != 0 {
			return b.failf(ErrShape, "rms_norm: groups of %d in rows of %d", group, xn.Shape.Cols)
		}
		width = group
	}
	if wn := b.node(w); wn != nil && wn.Shape != (Shape{width, 1}) {
		return b.failf(ErrShape, "rms_norm: weight %q %v for groups of %d", wn.Name, wn.Shape, width)
	}
	return b.op(OpRMSNorm, xn.Shape, Params{Eps: eps, Group: group}, x, w)
}

// LayerNorm normalises each row of x to zero mean and unit variance, then
// multiplies by the optional weight w and adds the optional bias.
func (b *Builder) LayerNorm(x, w, bias Tensor, eps float32) Tensor {
	xn := b.activation("layer_norm", x)
	if xn == nil {
		return Tensor{}
	}
	for _, t := range []Tensor{w, bias} {
		if n := b.node(t); n != nil && n.Shape != (Shape{xn.Shape.Cols, 1}) {
			return b.failf(ErrShape, "layer_norm: %q %v for rows of %d", n.Name, n.Shape, xn.Shape.Cols)
		}
	}
	return b.op(OpLayerNorm, xn.Shape, Params{Eps: eps}, x, w, bias)
}

// Rope rotates the heads of x by the batch's positions.
func (b *Builder) Rope(x Tensor, r *Rope) Tensor {
	xn := b.activation("rope", x)
	if xn == nil {
		return Tensor{}
	}
	switch {
	case r.HeadDim <= 0 || xn.Shape.Cols%r.HeadDim != 0:
		return b.failf(ErrShape, "rope: heads of %d in rows of %d", r.HeadDim, xn.Shape.Cols)
	case r.Dims <= 0 || r.Dims%2 != 0 || r.Dims > r.HeadDim:
		return b.failf(ErrShape, "rope: %d rotated dimensions in heads of %d", r.Dims, r.HeadDim)
	case len(r.Freqs) != r.Dims/2:
		return b.failf(ErrShape, "rope: %d frequencies for %d pairs", len(r.Freqs), r.Dims/2)
	}
	return b.op(OpRope, xn.Shape, Params{Rope: r}, x)
}

// StoreKV writes the batch's keys k and values v into cache layer layer.
// Pass its result to Attention over the same layer.
func (b *Builder) StoreKV(layer int, k, v Tensor) Tensor {
	kn, vn := b.activation("store_kv", k), b.activation("store_kv", v)
	if kn == nil || vn == nil {
		return Tensor{}
	}
	if kn.Shape != vn.Shape {
		return b.failf(ErrShape, "store_kv: keys %v, values %v", kn.Shape, vn.Shape)
	}
	c := &b.g.Cache
	if c.Width != 0 && c.Width != kn.Shape.Cols {
		return b.failf(ErrShape, "store_kv: layer %d is %d wide, the cache %d", layer, kn.Shape.Cols, c.Width)
	}
	c.Width, c.Layers = kn.Shape.Cols, max(c.Layers, layer+1)
	return b.op(OpStoreKV, Shape{}, Params{Layer: layer}, k, v)
}

// Attention attends each query row of q to the keys and values of cache
// layer the tokens see (a.Causal, a.Window), after store (the layer's
// StoreKV). scale multiplies the scores (usually 1/sqrt(HeadDim)).
func (b *Builder) Attention(q, store Tensor, a *Attention, scale float32) Tensor {
	qn, sn := b.activation("attention", q), b.node(store)
	if qn == nil || sn == nil || sn.Op != OpStoreKV {
		return b.failf(ErrShape, "attention: needs queries and the layer's store_kv")
	}
	switch {
	case a.HeadDim <= 0 || a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		return b.failf(ErrShape, "attention: %d heads over %d kv heads of %d", a.Heads, a.KVHeads, a.HeadDim)
	case qn.Shape.Cols != a.Heads*a.HeadDim:
		return b.failf(ErrShape, "attention: queries %v for %d heads of %d", qn.Shape, a.Heads, a.HeadDim)
	case b.g.Cache.Width != a.KVHeads*a.HeadDim:
		return b.failf(ErrShape, "attention: cache rows of %d for %d kv heads of %d", b.g.Cache.Width, a.KVHeads, a.HeadDim)
	}
	return b.op(OpAttention, qn.Shape, Params{Layer: sn.Params.Layer, Scale: scale, Attn: a}, q, store)
}

// gated checks OpSiLUMul/OpGELUMul operands: two activations of one shape.
func (b *Builder) gated(op Op, x, y Tensor) Tensor {
	xn, yn := b.activation(op.String(), x), b.activation(op.String(), y)
	if xn == nil || yn == nil {
		return Tensor{}
	}
	if xn.Shape != yn.Shape {
		return b.failf(ErrShape, "%s: %v and %v", op, xn.Shape, yn.Shape)
	}
	return b.op(op, xn.Shape, Params{}, x, y)
}

// SiLUMul returns silu(gate)·up.
func (b *Builder) SiLUMul(gate, up Tensor) Tensor { return b.gated(OpSiLUMul, gate, up) }

// GELUMul returns gelu(gate)·up.
func (b *Builder) GELUMul(gate, up Tensor) Tensor { return b.gated(OpGELUMul, gate, up) }

// unary checks the operand of an op that keeps the shape.
func (b *Builder) unary(op Op, x Tensor) Tensor {
	xn := b.activation(op.String(), x)
	if xn == nil {
		return Tensor{}
	}
	return b.op(op, xn.Shape, Params{}, x)
}

// GELU returns gelu(x).
func (b *Builder) GELU(x Tensor) Tensor { return b.unary(OpGELU, x) }

// Softmax returns each row of x softmaxed.
func (b *Builder) Softmax(x Tensor) Tensor { return b.unary(OpSoftmax, x) }

// View returns columns [off, off+cols) of x.
func (b *Builder) View(x Tensor, off, cols int) Tensor {
	xn := b.activation("view", x)
	if xn == nil {
		return Tensor{}
	}
	if off < 0 || cols <= 0 || off+cols > xn.Shape.Cols {
		return b.failf(ErrShape, "view: columns [%d, %d) of %v", off, off+cols, xn.Shape)
	}
	return b.op(OpView, Shape{cols, xn.Shape.Rows}, Params{Off: off}, x)
}

// MoE returns the mixture-of-experts feed-forward of the normed input x
// (OpMoE): logits are the router's scores (Experts per token), gate, up
// and down the expert stacks (Builder.Experts) of Experts matrices each.
func (b *Builder) MoE(x, logits, gate, up, down Tensor, m *MoE) Tensor {
	xn, ln := b.activation("moe", x), b.activation("moe", logits)
	gn, un, dn := b.node(gate), b.node(up), b.node(down)
	if xn == nil || ln == nil || gn == nil || un == nil || dn == nil {
		return b.failf(ErrShape, "moe: missing operand")
	}
	for _, w := range []*Node{gn, un, dn} {
		if w.Kind != KindWeight {
			return b.failf(ErrShape, "moe: %q is not a weight", w.Name)
		}
	}
	e := m.Experts
	switch {
	case e <= 0 || m.Used <= 0 || m.Used > e:
		return b.failf(ErrShape, "moe: %d of %d experts", m.Used, e)
	case ln.Shape != (Shape{e, xn.Shape.Rows}):
		return b.failf(ErrShape, "moe: logits %v for %d experts of %v", ln.Shape, e, xn.Shape)
	case gn.Shape.Rows%e != 0 || gn.Shape.Cols != xn.Shape.Cols || un.Shape != gn.Shape:
		return b.failf(ErrShape, "moe: gate %q %v, up %q %v for %d experts of inputs %v", gn.Name, gn.Shape, un.Name, un.Shape, e, xn.Shape)
	case dn.Shape != (Shape{gn.Shape.Rows / e, xn.Shape.Cols * e}):
		return b.failf(ErrShape, "moe: down %q %v for %d experts of [%d %d]", dn.Name, dn.Shape, e, gn.Shape.Rows/e, xn.Shape.Cols)
	}
	n := Node{Kind: KindScratch, Op: OpMoE, Type: gguf.TypeF32, Shape: xn.Shape, Params: Params{MoE: m}, Name: OpMoE.String(),
		Src: [5]Tensor{x, logits, gate, up, down}}
	return b.add(n)
}

// Outputs returns the rows of x for the tokens that want outputs.
func (b *Builder) Outputs(x Tensor) Tensor {
	xn := b.activation("outputs", x)
	if xn == nil {
		return Tensor{}
	}
	if xn.Shape.Rows != b.batch.Tokens {
		return b.failf(ErrShape, "outputs: %v is not one row per token", xn.Shape)
	}
	return b.op(OpOutputs, Shape{xn.Shape.Cols, b.batch.Outputs}, Params{}, x)
}

// Finish returns the graph with result out, or the first error. Tensors
// of the file the graph does not read are left for the caller to judge
// (Graph.Weights lists those read).
func (b *Builder) Finish(out Tensor) (*Graph, error) {
	if b.err != nil {
		return nil, b.err
	}
	n := b.node(out)
	if n == nil || n.Kind != KindScratch || n.Shape.Rows != b.batch.Outputs {
		return nil, fmt.Errorf("%w: the result must be one row per output token", ErrShape)
	}
	b.g.Out = out
	return b.g, nil
}
