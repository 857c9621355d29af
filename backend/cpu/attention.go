package cpu

import (
	"math"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
)

// attnTask computes the (token, head) pairs of one attention node, split
// over cores by kernels.Parallel; each pair's arithmetic is the same
// whichever core runs it.
type attnTask struct {
	e            *Executor
	at           *compute.Attention
	scale        float32
	q, out       []float32
	keys, values []float32
	scores       [][]float32 // scratch per part, the cache's cells or the longest span yet each
}

// attention attends each token's query heads of q to the cache layer's
// keys and values in the token's span, read through the batch's pages
// (or from its base cells) as runs of cells. A token's arithmetic depends
// on its own keys only: neither the runs its pages make nor the other
// tokens in the batch change its bits.
func (e *Executor) attention(n *compute.Node, q, out []float32, batch *compute.Batch) {
	at := n.Params.Attn
	longest := 0
	for i := range batch.Tokens {
		e.cellRuns = batch.KeyRuns(i, at, e.cellRuns[:0])
		runs, span := e.runs[i][:0], 0
		for _, r := range e.cellRuns {
			runs = append(runs, kernels.Run{Row: r.Cell, Len: r.Len})
			span += r.Len
		}
		e.runs[i], e.spans[i] = runs, span
		longest = max(longest, span)
	}
	if e.cache.Type == gguf.TypeF16 {
		// llama.cpp's f16 attention product converts the queries to f16.
		kernels.RoundF16(q, e.queries[:len(q)], false)
		q = e.queries[:len(q)]
	}
	t := &e.attn
	for len(t.scores) < kernels.Threads() {
		t.scores = append(t.scores, nil)
	}
	for j, sc := range t.scores {
		if len(sc) < longest {
			// A span outgrows the cells only by pages a table repeats.
			t.scores[j] = make([]float32, max(longest, e.cells))
		}
	}
	t.at, t.scale, t.q, t.out = at, n.Params.Scale, q, out
	t.keys, t.values = e.keys[n.Params.Layer], e.values[n.Params.Layer]
	kernels.Parallel(len(batch.Tokens)*at.Heads, 4, &e.wg, t)
	t.q, t.out, t.keys, t.values = nil, nil, nil, nil
}

// Run implements kernels.Task over pairs u = token·Heads + head.
func (t *attnTask) Run(part, lo, hi int) {
	at, w := t.at, t.e.cache.Width
	hd, group := at.HeadDim, at.Heads/at.KVHeads
	f16 := t.e.cache.Type == gguf.TypeF16
	for u := lo; u < hi; u++ {
		i, h := u/at.Heads, u%at.Heads
		runs, kv := t.e.runs[i], h/group*hd
		q, out := t.q[u*hd:][:hd], t.out[u*hd:][:hd]
		scores := t.scores[part][:t.e.spans[i]]
		if f16 && at.SoftCap == 0 {
			kernels.AttendRuns(out, q, t.keys[kv:], t.values[kv:], w, runs, t.scale, scores, false)
		} else {
			attend(out, q, t.keys[kv:], t.values[kv:], w, runs, t.scale, at.SoftCap, f16, scores)
		}
	}
}

// attend is kernels.AttendRuns with what it lacks: scores soft-capped
// before the softmax (softCap > 0), and weights left in f32 for an F32
// cache (kernels.AttendRuns rounds them to f16, for an F16 cache).
func attend(out, q, k, v []float32, stride int, runs []kernels.Run, scale, softCap float32, f16 bool, scores []float32) {
	hd, p := len(q), 0
	for _, r := range runs {
		for c := r.Row; c < r.Row+r.Len; c++ {
			s := kernels.Dot(q, k[c*stride:][:hd]) * scale
			if softCap > 0 {
				s = softCap * float32(math.Tanh(float64(s/softCap)))
			}
			scores[p] = s
			p++
		}
	}
	kernels.Softmax(scores, false)
	if f16 {
		kernels.RoundF16(scores, scores, false)
	}
	clear(out)
	p = 0
	for _, r := range runs {
		for c := r.Row; c < r.Row+r.Len; c++ {
			wt, vp := scores[p], v[c*stride:][:hd]
			for j := range out {
				out[j] += wt * vp[j]
			}
			p++
		}
	}
}
