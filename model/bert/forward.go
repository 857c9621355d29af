package bert

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/kernels"
)

// forward runs the encoder over seqs and returns the final hidden states,
// one row of Embd per token with the sequences packed one after another,
// and start, where sequence s occupies rows start[s] to start[s+1]. The
// ids must already be checked against the vocabulary and the context.
func (m *Model) forward(seqs [][]int32) (hidden []float32, start []int, err error) {
	c := m.Config
	e := c.Embd
	start = make([]int, len(seqs)+1)
	for s, ids := range seqs {
		start[s+1] = start[s] + len(ids)
	}
	n := start[len(seqs)]

	// Input embeddings: token + position + token type 0 ("sentence A"),
	// then LayerNorm.
	x := make([]float32, n*e)
	posRow := make([]float32, e)
	for s, ids := range seqs {
		for p, id := range ids {
			row := x[(start[s]+p)*e : (start[s]+p+1)*e]
			if err := m.TokenEmbd.Row(int(id), row); err != nil {
				return nil, nil, err
			}
			if err := m.PosEmbd.Row(p, posRow); err != nil {
				return nil, nil, err
			}
			add(row, posRow)
			if m.typeRow0 != nil {
				add(row, m.typeRow0)
			}
		}
	}
	layerNorm(x, m.embdNorm, c.NormEps)

	q := make([]float32, n*e)
	k := make([]float32, n*e)
	v := make([]float32, n*e)
	attn := make([]float32, n*e)
	tmp := make([]float32, n*e)
	up := make([]float32, n*c.FFN)
	for i := range m.Layers {
		l, lv := &m.Layers[i], &m.layerVecs[i]
		// Self-attention, then residual and LayerNorm (post-LN).
		if err := matmul(q, x, n, &l.AttnQ, lv.bq); err != nil {
			return nil, nil, err
		}
		if err := matmul(k, x, n, &l.AttnK, lv.bk); err != nil {
			return nil, nil, err
		}
		if err := matmul(v, x, n, &l.AttnV, lv.bv); err != nil {
			return nil, nil, err
		}
		m.attention(attn, q, k, v, start)
		if err := matmul(tmp, attn, n, &l.AttnOut, lv.bo); err != nil {
			return nil, nil, err
		}
		add(x, tmp)
		layerNorm(x, lv.attnNorm, c.NormEps)

		// Feed-forward with GELU, then residual and LayerNorm.
		if err := matmul(up, x, n, &l.FFNUp, lv.bUp); err != nil {
			return nil, nil, err
		}
		gelu(up)
		if err := matmul(tmp, up, n, &l.FFNDown, lv.bDown); err != nil {
			return nil, nil, err
		}
		add(x, tmp)
		layerNorm(x, lv.outNorm, c.NormEps)
	}
	return x, start, nil
}

// attention computes multi-head scaled dot-product attention into out.
// The mask is the packing: a query at row i of sequence s attends only to
// the rows of s (only to rows up to i when the model is causal).
func (m *Model) attention(out, q, k, v []float32, start []int) {
	c := m.Config
	e, hd := c.Embd, c.HeadDim
	scale := float32(1 / math.Sqrt(float64(hd)))
	longest := 0
	for s := range len(start) - 1 {
		longest = max(longest, start[s+1]-start[s])
	}
	parallelFor((len(start)-1)*c.Heads, 1, func(lo, hi int) {
		scores := make([]float32, longest)
		for w := lo; w < hi; w++ {
			s, h := w/c.Heads, w%c.Heads
			first, end := start[s], start[s+1]
			for i := first; i < end; i++ {
				last := end
				if c.Causal {
					last = i + 1
				}
				qi := q[i*e+h*hd : i*e+(h+1)*hd]
				sc := scores[:last-first]
				for j := first; j < last; j++ {
					sc[j-first] = kernels.Dot(qi, k[j*e+h*hd:j*e+(h+1)*hd]) * scale
				}
				softmax(sc)
				oi := out[i*e+h*hd : i*e+(h+1)*hd]
				clear(oi)
				for j := first; j < last; j++ {
					p, vj := sc[j-first], v[j*e+h*hd:j*e+(h+1)*hd]
					for d := range oi {
						oi[d] += p * vj[d]
					}
				}
			}
		}
	})
}

// pool reduces one sequence's hidden states (rows of e) to one vector by p.
func pool(hidden []float32, e int, p PoolingType) ([]float32, error) {
	n := len(hidden) / e
	out := make([]float32, e)
	switch p {
	case PoolingMean:
		for t := range n {
			add(out, hidden[t*e:(t+1)*e])
		}
		inv := 1 / float32(n)
		for i := range out {
			out[i] *= inv
		}
	case PoolingCLS:
		copy(out, hidden[:e])
	case PoolingLast:
		copy(out, hidden[(n-1)*e:])
	default:
		return nil, fmt.Errorf("%w: pooling type %s does not give one vector per input", ErrUnsupported, p)
	}
	return out, nil
}
