package compute

import (
	"fmt"
	"math"
	"slices"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/sampling"
)

// Executor runs graphs on a backend. It owns the KV cache the graphs'
// StoreKV and Attention ops use, which holds one sequence's positions as
// cells (cell = position).
type Executor interface {
	// Run evaluates g on batch and returns g's result: Outputs rows of
	// the result's Cols values, one after another, valid until the next
	// Run.
	Run(g *Graph, batch *Batch) ([]float32, error)
	// Close frees the cache and scratch memory.
	Close() error
}

// SamplingExecutor is an executor that can also draw the next tokens on
// its device, in the same step as the forward pass (the sampler as the
// graph's tail), so a step returns token ids rather than logits.
type SamplingExecutor interface {
	Executor
	// RunSample evaluates g on batch and draws output row i's next token
	// with smps[i], which records it in its history; ids[i] is -1 for a
	// row without a sampler (nil) and for one it leaves to the caller's
	// draw on the host (whose constraint allows no token, so that only
	// its own sequence fails). logits holds every output row, as Run
	// returns them, when any row has ids[i] -1 or a draw needed them on
	// the host; else it is nil.
	RunSample(g *Graph, batch *Batch, smps []*sampling.Sampler) (ids []int32, logits []float32, err error)
}

// Reference runs graphs in plain Go: float32 activations, weights
// dequantized as they are read, sums in float64. It reads op by op like
// llama2.c's run.c and is the oracle executors are tested against, not a
// fast path. Where llama.cpp rounds (the f16 KV cache; activations
// quantized before products with quantized weights, rounded to bf16
// before BF16 ones) it rounds the same way.
type Reference struct {
	cache  CacheShape
	cells  int
	keys   [][]float32 // per layer, cells × Width
	values [][]float32
	vals   [][]float32 // per node of the graph being run
}

// NewReference returns a reference executor whose KV cache holds cells
// positions of shape c.
func NewReference(c CacheShape, cells int) *Reference {
	r := &Reference{cache: c, cells: cells}
	for range c.Layers {
		r.keys = append(r.keys, make([]float32, cells*c.Width))
		r.values = append(r.values, make([]float32, cells*c.Width))
	}
	return r
}

// Close implements Executor.
func (r *Reference) Close() error {
	r.keys, r.values, r.vals = nil, nil, nil
	return nil
}

// Run implements Executor.
func (r *Reference) Run(g *Graph, batch *Batch) ([]float32, error) {
	if batch.Shape() != g.Batch {
		return nil, fmt.Errorf("%w: shape %+v for a graph of %+v", ErrBatch, batch.Shape(), g.Batch)
	}
	if g.Cache.Layers > 0 && (g.Cache.Width != r.cache.Width || g.Cache.Layers > r.cache.Layers) {
		return nil, fmt.Errorf("%w: the graph's cache %+v, the executor's %+v", ErrShape, g.Cache, r.cache)
	}
	if err := batch.CheckCells(r.cells); err != nil {
		return nil, err
	}
	r.vals = make([][]float32, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Kind != KindScratch {
			continue
		}
		out := make([]float32, n.Shape.Elems())
		if err := r.run(g, n, batch, out); err != nil {
			return nil, fmt.Errorf("compute: node %d (%s %s): %w", i, n.Op, n.Name, err)
		}
		r.vals[i] = out
	}
	return r.vals[g.Out.Index()], nil
}

// floats returns t's values as float32: a scratch result, or a weight
// dequantized (nil for the zero Tensor).
func (r *Reference) floats(g *Graph, t Tensor) ([]float32, error) {
	if !t.Valid() {
		return nil, nil
	}
	n := g.Node(t)
	if n.Kind == KindScratch {
		return r.vals[t.Index()], nil
	}
	out := make([]float32, n.Shape.Elems())
	if err := quant.Dequantize(n.Type, n.Weight, out); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", n.Name, err)
	}
	return out, nil
}

func (r *Reference) run(g *Graph, n *Node, batch *Batch, out []float32) error {
	var src [3][]float32
	for i, t := range n.Src {
		if t.Valid() && g.Node(t).Kind == KindInput || n.Op == OpGetRows && i == 0 || n.Op == OpMatMul && i == 0 || i >= len(src) {
			continue // ids; a table or matrix (or MoE's expert stacks) is read row by row
		}
		v, err := r.floats(g, t)
		if err != nil {
			return err
		}
		src[i] = v
	}
	a, b, c := src[0], src[1], src[2]
	cols := n.Shape.Cols
	switch n.Op {
	case OpGetRows:
		w, ids := g.Node(n.Src[0]), batch.Tokens
		if g.Node(n.Src[1]).Name == InputPositions {
			ids = batch.Pos
		}
		for i, id := range ids {
			if err := weightRow(w, int(id), out[i*cols:(i+1)*cols]); err != nil {
				return err
			}
		}
	case OpMatMul:
		return r.matMul(g.Node(n.Src[0]), a, b, c, out)
	case OpAdd, OpMul:
		bc := len(b) == cols // b is one row
		for i := range out {
			y := b[i%cols]
			if !bc {
				y = b[i]
			}
			if n.Op == OpAdd {
				out[i] = a[i] + y
			} else {
				out[i] = a[i] * y
			}
		}
	case OpScale:
		for i, x := range a {
			out[i] = x * n.Params.Scale
		}
	case OpSoftCap:
		limit := n.Params.Scale
		for i, x := range a {
			out[i] = float32(math.Tanh(float64(x*(1/limit)))) * limit
		}
	case OpRMSNorm:
		group := n.Params.Group
		if group == 0 {
			group = cols
		}
		for o := 0; o < len(out); o += group {
			x := a[o : o+group]
			// As ggml: the mean of squares summed in float64, the scale in
			// float32, then x·scale, then the weight.
			var ss float64
			for _, v := range x {
				ss += float64(v) * float64(v)
			}
			mean := float32(ss / float64(group))
			scale := 1 / float32(math.Sqrt(float64(mean+n.Params.Eps)))
			for i, v := range x {
				y := v * scale
				if b != nil {
					y *= b[i]
				}
				out[o+i] = y
			}
		}
	case OpLayerNorm:
		for o := 0; o < len(out); o += cols {
			x := a[o : o+cols]
			var sum, ss float64
			for _, v := range x {
				sum += float64(v)
			}
			mean := sum / float64(cols)
			for _, v := range x {
				d := float64(v) - mean
				ss += d * d
			}
			inv := 1 / math.Sqrt(ss/float64(cols)+float64(n.Params.Eps))
			for i, v := range x {
				y := float32((float64(v) - mean) * inv)
				if b != nil {
					y *= b[i]
				}
				if c != nil {
					y += c[i]
				}
				out[o+i] = y
			}
		}
	case OpRope:
		copy(out, a)
		for i, p := range batch.Pos {
			rope(out[i*cols:(i+1)*cols], n.Params.Rope, int(p))
		}
	case OpStoreKV:
		w := r.cache.Width
		for i := range batch.Tokens {
			c := batch.Cell(i)
			k, err := storedAs(r.cache.Type, a[i*w:(i+1)*w])
			if err != nil {
				return err
			}
			v, err := storedAs(r.cache.Type, b[i*w:(i+1)*w])
			if err != nil {
				return err
			}
			copy(r.keys[n.Params.Layer][c*w:][:w], k)
			copy(r.values[n.Params.Layer][c*w:][:w], v)
		}
	case OpAttention:
		r.attention(n, a, batch, out)
	case OpSiLUMul:
		for i, x := range a {
			out[i] = float32(float64(x)/(1+math.Exp(-float64(x)))) * b[i]
		}
	case OpGELU, OpGELUMul:
		for i, x := range a {
			out[i] = gelu(x)
			if n.Op == OpGELUMul {
				out[i] *= b[i]
			}
		}
	case OpSoftmax:
		for o := 0; o < len(out); o += cols {
			softmax(a[o:o+cols], out[o:o+cols])
		}
	case OpView:
		width := len(a) / n.Shape.Rows
		for i := range n.Shape.Rows {
			copy(out[i*cols:(i+1)*cols], a[i*width+n.Params.Off:])
		}
	case OpMoE:
		return r.moe(g, n, a, b, out)
	case OpOutputs:
		o := 0
		for i := range batch.Tokens {
			if batch.Wants(i) {
				copy(out[o*cols:(o+1)*cols], a[i*cols:(i+1)*cols])
				o++
			}
		}
	default:
		return fmt.Errorf("%w: no reference for op %s", ErrOp, n.Op)
	}
	return nil
}

// matMul sets out[t] = W·x[t] (+ bias) for the weight node w, a row of W
// dequantized at a time.
func (r *Reference) matMul(w *Node, _, x, bias, out []float32) error {
	in, rows := w.Shape.Cols, w.Shape.Rows
	tokens := len(x) / in
	// Activations as llama.cpp's CPU backend converts them for w's type:
	// quantized (Q8_0, Q8_K) or rounded (bf16).
	tr, _ := quant.TraitsOf(w.Type)
	if tr.Activations != quant.ActF32 {
		r := make([]float32, len(x))
		quant.RoundActivations(tr.Activations, x, r)
		x = r
	}
	row := make([]float32, in)
	for o := range rows {
		if err := weightRow(w, o, row); err != nil {
			return err
		}
		for t := range tokens {
			xt := x[t*in : (t+1)*in]
			var sum float64
			for i, wv := range row {
				sum += float64(wv) * float64(xt[i])
			}
			if bias != nil {
				sum += float64(bias[o])
			}
			out[t*rows+o] = float32(sum)
		}
	}
	return nil
}

// moe computes OpMoE token by token, expert by expert, each expert's
// products as matMul computes them.
func (r *Reference) moe(g *Graph, n *Node, x, logits, out []float32) error {
	m, cols := n.Params.MoE, n.Shape.Cols
	gate, up, down := g.Node(n.Src[2]), g.Node(n.Src[3]), g.Node(n.Src[4])
	ff := gate.Shape.Rows / m.Experts
	gv, uv, dv := make([]float32, ff), make([]float32, ff), make([]float32, cols)
	probs, experts, weights := make([]float32, m.Experts), make([]int, m.Used), make([]float32, m.Used)
	for t := range n.Shape.Rows {
		xt, o := x[t*cols:(t+1)*cols], out[t*cols:(t+1)*cols]
		Route(logits[t*m.Experts:(t+1)*m.Experts], m, probs, experts, weights)
		// ggml's mul_mat_id converts f32 activations to an F16 stack's
		// f16 (its vec_dot_type), where the dense matmul keeps them f32.
		xt = roundTo(gate.Type, xt)
		for k, e := range experts {
			if err := r.matMul(ExpertSlice(gate, e, m.Experts), nil, xt, nil, gv); err != nil {
				return err
			}
			if err := r.matMul(ExpertSlice(up, e, m.Experts), nil, xt, nil, uv); err != nil {
				return err
			}
			for i, v := range gv {
				gv[i] = float32(float64(v)/(1+math.Exp(-float64(v)))) * uv[i]
			}
			if err := r.matMul(ExpertSlice(down, e, m.Experts), nil, roundTo(down.Type, gv), nil, dv); err != nil {
				return err
			}
			for i, v := range dv {
				if k == 0 {
					o[i] = float32(weights[k] * v)
				} else {
					o[i] += float32(weights[k] * v)
				}
			}
		}
	}
	return nil
}

// Route sets experts and weights (m.Used each) to the experts one
// token's router logits choose, highest probability first (ties to the
// lower index), and their weights, as OpMoE defines them; probs is
// scratch of len(logits). Executors route with it, so that every one
// picks the same experts.
func Route(logits []float32, m *MoE, probs []float32, experts []int, weights []float32) {
	softmax(logits, probs)
	for k := range experts {
		best := -1
		for e, p := range probs {
			if !slices.Contains(experts[:k], e) && (best < 0 || p > probs[best]) {
				best = e
			}
		}
		experts[k] = best
	}
	var sum float64 // ggml's sum_rows sums in double
	for k, e := range experts {
		weights[k] = probs[e]
		sum += float64(probs[e])
	}
	if m.Renorm {
		for k := range weights {
			weights[k] /= float32(sum)
		}
	}
}

// ExpertSlice returns expert e's matrix of the stack w of experts
// matrices, as a weight node of its own.
func ExpertSlice(w *Node, e, experts int) *Node {
	rows := w.Shape.Rows / experts
	rb := len(w.Weight) / w.Shape.Rows
	return &Node{Kind: KindWeight, Type: w.Type, Shape: Shape{w.Shape.Cols, rows}, Name: fmt.Sprintf("%s[%d]", w.Name, e),
		Weight: w.Weight[e*rows*rb : (e+1)*rows*rb]}
}

// weightRow dequantizes row i of weight w into dst.
func weightRow(w *Node, i int, dst []float32) error {
	if i < 0 || i >= w.Shape.Rows {
		return fmt.Errorf("row %d of %q, which has %d", i, w.Name, w.Shape.Rows)
	}
	rb := len(w.Weight) / w.Shape.Rows
	return quant.Dequantize(w.Type, w.Weight[i*rb:(i+1)*rb], dst)
}

// attention computes each token's heads over the cache layer.
func (r *Reference) attention(n *Node, q []float32, batch *Batch, out []float32) {
	at, w := n.Params.Attn, r.cache.Width
	keys, values := r.keys[n.Params.Layer], r.values[n.Params.Layer]
	hd, group := at.HeadDim, at.Heads/at.KVHeads
	qh := make([]float32, hd)
	var runs []CellRun
	for i := range batch.Tokens {
		runs = batch.KeyRuns(i, at, runs[:0])
		var cells []int // of the keys, in position order
		for _, run := range runs {
			for c := range run.Len {
				cells = append(cells, run.Cell+c)
			}
		}
		scores := make([]float32, len(cells))
		for h := range at.Heads {
			copy(qh, roundTo(r.cache.Type, q[(i*at.Heads+h)*hd:][:hd]))
			kv := h / group * hd
			for k, c := range cells {
				var d float64
				for j, x := range keys[c*w+kv:][:hd] {
					d += float64(qh[j]) * float64(x)
				}
				s := float32(d) * n.Params.Scale
				if at.SoftCap > 0 {
					s = at.SoftCap * float32(math.Tanh(float64(s/at.SoftCap)))
				}
				scores[k] = s
			}
			softmax(scores, scores)
			// llama.cpp's product of the weights with an f16 V cache
			// converts them to f16 too, unless it attends flash (the
			// weights are then not normalised until after the product).
			if !r.cache.Flash {
				copy(scores, roundTo(r.cache.Type, scores))
			}
			o := out[(i*at.Heads+h)*hd:][:hd]
			for j := range o {
				var sum float64
				for k, c := range cells {
					sum += float64(scores[k]) * float64(values[c*w+kv+j])
				}
				o[j] = float32(sum)
			}
		}
	}
}

// rope rotates each head of x (one token's row) for position pos.
func rope(x []float32, r *Rope, pos int) {
	half := r.Dims / 2
	for h := 0; h < len(x); h += r.HeadDim {
		for i, f := range r.Freqs {
			theta := float64(pos) * f
			cos, sin := float32(math.Cos(theta)), float32(math.Sin(theta))
			j, k := h+2*i, h+2*i+1
			if r.NeoX {
				j, k = h+i, h+i+half
			}
			a, b := x[j], x[k]
			x[j], x[k] = a*cos-b*sin, a*sin+b*cos
		}
	}
}

// softmax sets out to softmax(x) (out may be x).
func softmax(x, out []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
}

// gelu is ggml's GELU: the tanh approximation at the input rounded to
// f16, the result rounded to f16 (its CPU backend looks it up in an f16
// table), the tails (|x| >= 10) exact.
func gelu(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	const c = 0.7978845608028654 // sqrt(2/pi)
	v := float64(quant.F16ToF32(quant.F32ToF16(x)))
	return quant.F16ToF32(quant.F32ToF16(float32(0.5 * v * (1 + math.Tanh(c*v*(1+0.044715*v*v))))))
}

// storedAs returns what a KV cache of type t keeps of row x (KVTypes):
// x rounded to f16, or quantized to Q8_0 blocks and back.
func storedAs(t gguf.Type, x []float32) ([]float32, error) {
	if t != gguf.TypeQ8_0 {
		return roundTo(t, x), nil
	}
	q, err := quant.Quantize(t, x)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKVType, err)
	}
	out := make([]float32, len(x))
	return out, quant.Dequantize(t, q, out)
}

// roundTo returns x rounded to t's precision (F16, BF16) as float32, or x
// itself for F32.
func roundTo(t gguf.Type, x []float32) []float32 {
	switch t {
	case gguf.TypeF16:
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = quant.F16ToF32(quant.F32ToF16(v))
		}
		return out
	case gguf.TypeBF16:
		out := make([]float32, len(x))
		for i, v := range x {
			b := math.Float32bits(v)
			out[i] = math.Float32frombits((b + 0x7fff + (b>>16)&1) &^ 0xffff)
		}
		return out
	}
	return x
}
