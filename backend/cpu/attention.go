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
	keys, values *kvRows
	// Scratch per part: scores, the cache's cells or the longest span
	// yet; keys and values widened to float32 (gather), as many heads'
	// worth, when the path needs them.
	scores, kbuf, vbuf [][]float32
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
		t.scores, t.kbuf, t.vbuf = append(t.scores, nil), append(t.kbuf, nil), append(t.vbuf, nil)
	}
	// A span outgrows the cells only by pages a table repeats.
	size := max(longest, e.cells)
	for j, sc := range t.scores {
		if len(sc) < longest {
			t.scores[j] = make([]float32, size)
		}
		if gathers(e.cache.Type, at) && len(t.kbuf[j]) < longest*at.HeadDim {
			t.kbuf[j], t.vbuf[j] = make([]float32, size*at.HeadDim), make([]float32, size*at.HeadDim)
		}
	}
	t.at, t.scale, t.q, t.out = at, n.Params.Scale, q, out
	t.keys, t.values = &e.keys[n.Params.Layer], &e.values[n.Params.Layer]
	kernels.Parallel(len(batch.Tokens)*at.Heads, 4, &e.wg, t)
	t.q, t.out, t.keys, t.values = nil, nil, nil, nil
}

// gathers says whether attention widens a head's keys and values into
// float32 scratch before it attends (Run's generic path): for a Q8_0
// cache, and an F16 one with soft-capped scores.
func gathers(t gguf.Type, at *compute.Attention) bool {
	return t == gguf.TypeQ8_0 || t == gguf.TypeF16 && at.SoftCap > 0
}

// Run implements kernels.Task over pairs u = token·Heads + head.
func (t *attnTask) Run(part, lo, hi int) {
	at, w := t.at, t.e.cache.Width
	hd, group := at.HeadDim, at.Heads/at.KVHeads
	typ := t.e.cache.Type
	f16 := typ == gguf.TypeF16
	for u := lo; u < hi; u++ {
		i, h := u/at.Heads, u%at.Heads
		runs, kv, span := t.e.runs[i], h/group*hd, t.e.spans[i]
		q, out := t.q[u*hd:][:hd], t.out[u*hd:][:hd]
		scores := t.scores[part][:span]
		switch {
		case gathers(typ, at):
			k, v := t.kbuf[part][:span*hd], t.vbuf[part][:span*hd]
			t.keys.gather(k, w, kv, hd, runs)
			t.values.gather(v, w, kv, hd, runs)
			all := [1]kernels.Run{{Row: 0, Len: span}}
			if at.SoftCap > 0 {
				attend(out, q, k, v, hd, all[:], t.scale, at.SoftCap, f16, scores)
			} else {
				kernels.AttendRunsF32(out, q, k, v, hd, all[:], t.scale, scores, false)
			}
		case f16:
			kernels.AttendHalfRuns(out, q, t.keys.f16[kv:], t.values.f16[kv:], w, runs, t.scale, scores, false)
		default:
			// F32 keeps the Go sums its encoders' tests were measured with
			// (model/bert holds them to 5e-5 of the reference).
			attend(out, q, t.keys.f32[kv:], t.values.f32[kv:], w, runs, t.scale, at.SoftCap, false, scores)
		}
	}
}

// attend is kernels.AttendRuns (f16) or AttendRunsF32 (f32) in Go, with
// what they lack: scores soft-capped before the softmax (softCap > 0).
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
