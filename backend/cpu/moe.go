package cpu

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
)

// moeScratch holds an OpMoE's routing and each (token, chosen expert)
// pair's rows, sized by plan for the largest batch, so a warm step
// allocates nothing. Pair p = token·Used + k.
type moeScratch struct {
	probs    []float32
	xr       []float32 // the inputs rounded to f16 for F16 stacks
	experts  []int     // per pair: the expert
	weights  []float32 // per pair: its weight
	gate, up []float32 // per pair: one expert's hidden rows (gate becomes silu(gate)·up)
	down     []float32 // per pair: the expert's output row
	xs, ys   [][]float32
}

// grow makes the scratch hold tokens tokens of m's experts of ff hidden
// values over rows of width.
func (s *moeScratch) grow(tokens int, m *compute.MoE, ff, width int) {
	pairs := tokens * m.Used
	s.probs = growTo(s.probs, m.Experts)
	s.xr = growTo(s.xr, tokens*width)
	s.weights = growTo(s.weights, pairs)
	s.gate, s.up = growTo(s.gate, pairs*ff), growTo(s.up, pairs*ff)
	s.down = growTo(s.down, pairs*width)
	if len(s.experts) < pairs {
		s.experts = make([]int, pairs)
		s.xs, s.ys = make([][]float32, pairs), make([][]float32, pairs)
	}
}

func growTo(b []float32, n int) []float32 {
	if len(b) < n {
		return make([]float32, n)
	}
	return b
}

// runMoE computes OpMoE: it routes every token, then runs each expert
// once over all the tokens that chose it (one DoBatch per matrix, which
// reads the expert's weights once for the batch), then sums each token's
// experts in its own order, as compute.Reference does.
func (e *Executor) runMoE(st *step, x, logits, out []float32) error {
	n, s := st.node, &e.moe
	m, width := n.Params.MoE, n.Shape.Cols
	stacks := [3]*compute.Node{st.w, st.w2, st.w3}
	ff := stacks[0].Shape.Rows / m.Experts
	tokens := n.Shape.Rows
	if stacks[0].Type == gguf.TypeF16 { // as compute.Reference: ggml's mul_mat_id's f16 inputs
		kernels.RoundF16(x, s.xr[:len(x)], false)
		x = s.xr[:len(x)]
	}
	for t := range tokens {
		p := t * m.Used
		compute.Route(logits[t*m.Experts:(t+1)*m.Experts], m, s.probs[:m.Experts], s.experts[p:p+m.Used], s.weights[p:p+m.Used])
	}
	for ex := range m.Experts {
		// The pairs that chose ex, as rows of the pair buffers.
		rows := 0
		for p, chosen := range s.experts[:tokens*m.Used] {
			if chosen == ex {
				s.xs[rows], s.ys[rows] = x[p/m.Used*width:][:width], s.gate[p*ff:][:ff]
				rows++
			}
		}
		if rows == 0 {
			continue
		}
		xs, ys := s.xs[:rows], s.ys[:rows]
		if err := e.expertMatMul(stacks[0], ex, m.Experts, xs, ys); err != nil {
			return err
		}
		for i, p := 0, 0; i < rows; p++ {
			if s.experts[p] == ex {
				ys[i] = s.up[p*ff:][:ff]
				i++
			}
		}
		if err := e.expertMatMul(stacks[1], ex, m.Experts, xs, ys); err != nil {
			return err
		}
		for i, p := 0, 0; i < rows; p++ {
			if s.experts[p] == ex {
				g := s.gate[p*ff:][:ff]
				kernels.SiLUMul(g, s.up[p*ff:][:ff], false)
				if stacks[2].Type == gguf.TypeF16 {
					kernels.RoundF16(g, g, false)
				}
				xs[i], ys[i] = g, s.down[p*width:][:width]
				i++
			}
		}
		if err := e.expertMatMul(stacks[2], ex, m.Experts, xs, ys); err != nil {
			return err
		}
	}
	clear(s.xs) // do not pin the slots
	clear(s.ys)
	for t := range tokens {
		o := out[t*width:][:width]
		for k := range m.Used {
			p := t*m.Used + k
			w, d := s.weights[p], s.down[p*width:][:width]
			for i, v := range d {
				if k == 0 {
					o[i] = float32(w * v)
				} else {
					o[i] += float32(w * v)
				}
			}
		}
	}
	return nil
}

// expertMatMul multiplies the rows xs by expert ex's matrix of the stack
// w into ys, in the stored type.
func (e *Executor) expertMatMul(w *compute.Node, ex, experts int, xs, ys [][]float32) error {
	rows := w.Shape.Rows / experts
	rb := len(w.Weight) / w.Shape.Rows
	if err := e.mv.DoBatch(w.Type, w.Weight[ex*rows*rb:(ex+1)*rows*rb], rows, w.Shape.Cols, xs, ys); err != nil {
		return fmt.Errorf("tensor %q, expert %d: %w", w.Name, ex, err)
	}
	return nil
}
