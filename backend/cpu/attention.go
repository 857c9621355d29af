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
	scores       [][]float32 // scratch per part, a cache's cells each
}

// attention attends each token's query heads of q to the cache layer's
// keys and values in the token's span.
func (e *Executor) attention(n *compute.Node, q, out []float32, batch *compute.Batch) {
	at := n.Params.Attn
	for i := range batch.Tokens {
		lo, hi := batch.KeyCells(i, at)
		e.spans[i] = [2]int{lo, hi}
	}
	if e.cache.Type == gguf.TypeF16 {
		// llama.cpp's f16 attention product converts the queries to f16.
		kernels.RoundF16(q, e.queries[:len(q)], false)
		q = e.queries[:len(q)]
	}
	t := &e.attn
	for len(t.scores) < kernels.Threads() {
		t.scores = append(t.scores, make([]float32, e.cells))
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
		span := t.e.spans[i]
		base := span[0]*w + h/group*hd
		q, out := t.q[u*hd:][:hd], t.out[u*hd:][:hd]
		scores := t.scores[part][:span[1]-span[0]]
		if f16 && at.SoftCap == 0 {
			kernels.Attend(out, q, t.keys[base:], t.values[base:], w, t.scale, scores, false)
		} else {
			attend(out, q, t.keys[base:], t.values[base:], w, t.scale, at.SoftCap, f16, scores)
		}
	}
}

// attend is kernels.Attend with what it lacks: scores soft-capped before
// the softmax (softCap > 0), and weights left in f32 for an F32 cache
// (kernels.Attend rounds them to f16, for an F16 cache).
func attend(out, q, k, v []float32, stride int, scale, softCap float32, f16 bool, scores []float32) {
	hd := len(q)
	for p := range scores {
		s := kernels.Dot(q, k[p*stride:][:hd]) * scale
		if softCap > 0 {
			s = softCap * float32(math.Tanh(float64(s/softCap)))
		}
		scores[p] = s
	}
	kernels.Softmax(scores, false)
	if f16 {
		kernels.RoundF16(scores, scores, false)
	}
	clear(out)
	for p, wt := range scores {
		vp := v[p*stride:][:hd]
		for j := range out {
			out[j] += wt * vp[j]
		}
	}
}
