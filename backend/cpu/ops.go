package cpu

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/quant"
)

// run computes step s's node for batch. Each op calls the kernel the CPU
// session calls for the same work, so the results are its bits.
func (e *Executor) run(s *step, batch *compute.Batch) error {
	n := s.node
	var out []float32
	if s.out >= 0 {
		out = e.slots[s.out][:n.Shape.Elems()]
	}
	a, b, c := e.floats(s.src[0]), e.floats(s.src[1]), e.floats(s.src[2])
	cols := n.Shape.Cols
	switch n.Op {
	case compute.OpGetRows:
		ids := batch.Tokens
		if s.byPos {
			ids = batch.Pos
		}
		return getRows(s.w, ids, out)
	case compute.OpMatMul:
		return e.matMul(s, b, c, out)
	case compute.OpAdd:
		copyIn(out, a)
		if len(b) == len(out) {
			kernels.Add(out, b, false)
			break
		}
		for o := 0; o < len(out); o += cols {
			kernels.Add(out[o:o+cols], b, false)
		}
	case compute.OpMul:
		bc := len(b) != len(out) // b is one row
		for i, x := range a {
			if bc {
				out[i] = x * b[i%cols]
			} else {
				out[i] = x * b[i]
			}
		}
	case compute.OpScale:
		for i, x := range a {
			out[i] = x * n.Params.Scale
		}
	case compute.OpSoftCap:
		limit := n.Params.Scale
		for i, x := range a {
			out[i] = float32(math.Tanh(float64(x*(1/limit)))) * limit
		}
	case compute.OpRMSNorm:
		group := cols
		if n.Params.Group > 0 {
			group = n.Params.Group
		}
		for o := 0; o < len(out); o += group {
			kernels.RMSNorm(out[o:o+group], a[o:o+group], b, n.Params.Eps, false)
		}
	case compute.OpLayerNorm:
		for o := 0; o < len(out); o += cols {
			kernels.LayerNorm(out[o:o+cols], a[o:o+cols], b, c, n.Params.Eps, false)
		}
	case compute.OpRope:
		copyIn(out, a)
		r := n.Params.Rope
		for i, p := range batch.Pos {
			kernels.Rope(out[i*cols:(i+1)*cols], s.rope.at(int(p)), r.HeadDim, r.NeoX, false)
		}
	case compute.OpStoreKV:
		return e.storeKV(n.Params.Layer, a, b, batch)
	case compute.OpAttention:
		return e.attention(n, a, out, batch)
	case compute.OpSiLUMul:
		copyIn(out, a)
		// Row by row: the SIMD kernel computes a row's tail outside the
		// vector lanes, so the rows' boundaries are part of its result.
		for o := 0; o < len(out); o += cols {
			kernels.SiLUMul(out[o:o+cols], b[o:o+cols], false)
		}
	case compute.OpGELU:
		copyIn(out, a)
		kernels.GELU(out, false)
	case compute.OpGELUMul:
		copyIn(out, a)
		kernels.GELU(out, false)
		for i := range out {
			out[i] *= b[i]
		}
	case compute.OpSoftmax:
		copyIn(out, a)
		for o := 0; o < len(out); o += cols {
			kernels.Softmax(out[o:o+cols], false)
		}
	case compute.OpView:
		width := len(a) / n.Shape.Rows
		for i := range n.Shape.Rows {
			copy(out[i*cols:(i+1)*cols], a[i*width+n.Params.Off:])
		}
	case compute.OpMoE:
		return e.runMoE(s, a, b, out)
	case compute.OpOutputs:
		o := 0
		for i := range batch.Tokens {
			if batch.Wants(i) {
				copy(out[o*cols:(o+1)*cols], a[i*cols:(i+1)*cols])
				o++
			}
		}
	default:
		return fmt.Errorf("%w: no CPU kernel for op %s", compute.ErrOp, n.Op)
	}
	return nil
}

// copyIn puts a into out for an op that then works in place, unless the
// plan gave the op a's own buffer.
func copyIn(out, a []float32) {
	if len(out) > 0 && &out[0] != &a[0] {
		copy(out, a)
	}
}

// getRows dequantizes the table's row of each token.
func getRows(w *compute.Node, ids []int32, out []float32) error {
	cols, rb := w.Shape.Cols, len(w.Weight)/w.Shape.Rows
	for i, tok := range ids {
		if tok < 0 || int(tok) >= w.Shape.Rows {
			return fmt.Errorf("%w: id %d outside the %d rows of %q", compute.ErrBatch, tok, w.Shape.Rows, w.Name)
		}
		if err := quant.Dequantize(w.Type, w.Weight[int(tok)*rb:][:rb], out[i*cols:(i+1)*cols]); err != nil {
			return fmt.Errorf("tensor %q: %w", w.Name, err)
		}
	}
	return nil
}

// matMul multiplies every row of x by step s's matrix, then adds the
// bias: packed, in one Gemm for the batch (one token or many, with the
// same sums); else in its stored type, in one DoBatch. Either reads the
// weights once per batch.
func (e *Executor) matMul(s *step, x, bias, out []float32) error {
	w := s.w
	in, rows := w.Shape.Cols, w.Shape.Rows
	tokens := len(x) / in
	var err error
	if s.pk != nil {
		err = e.gemm.Do(s.pk, x, tokens, out)
	} else {
		xs, ys := e.xrows[:tokens], e.yrows[:tokens]
		for i := range tokens {
			xs[i], ys[i] = x[i*in:(i+1)*in], out[i*rows:(i+1)*rows]
		}
		err = e.mv.DoBatch(w.Type, w.Weight, rows, in, xs, ys)
		clear(xs) // the buffers may be regrown by a later plan; do not pin them
		clear(ys)
	}
	if err != nil {
		return fmt.Errorf("tensor %q: %w", w.Name, err)
	}
	if bias != nil {
		for o := 0; o < len(out); o += rows {
			for i, v := range bias {
				out[o+i] += v
			}
		}
	}
	return nil
}

// storeKV writes each token's keys and values at its position's cell,
// as the cache's type keeps them.
func (e *Executor) storeKV(layer int, k, v []float32, batch *compute.Batch) error {
	w := e.cache.Width
	for i := range batch.Tokens {
		c := batch.Cell(i)
		if err := e.keys[layer].store(c, k[i*w:(i+1)*w]); err != nil {
			return err
		}
		if err := e.values[layer].store(c, v[i*w:(i+1)*w]); err != nil {
			return err
		}
	}
	return nil
}
