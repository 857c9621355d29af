package cpu

import (
	"fmt"
	"math"
	"sync"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
)

// attnTask computes the (token, head) pairs of one attention node, split
// over cores by kernels.Parallel; each pair's arithmetic is the same
// whichever core runs it. Over an f16 cache (without a soft cap) it
// attends tiles instead (kernels.AttendTile), claimed by the cores in
// turn.
type attnTask struct {
	e            *Executor
	at           *compute.Attention
	scale        float32
	layer        int
	q, out       []float32
	keys, values *kvRows
	// Scratch per part, each allocated by the path that uses it: scores,
	// the cache's cells or the longest span yet; keys and values widened
	// to float32 (gather), as many heads' worth; a tile's scratch.
	scores, kbuf, vbuf, tileScratch [][]float32

	// The tiled path: the batch's tiles, cut into units over KV heads
	// (and chunks of a KV head's query heads).
	tiles []attnTile
	units []attnUnit
	errMu sync.Mutex
	err   error
}

// attnTile is a run of consecutive tokens of the batch whose positions
// are prefixes of one token's (longest): a causal prompt's tokens of one
// sequence. They attend as kernels.AttendTile calls over one KV head
// or several (tileUnits).
type attnTile struct{ first, tokens, longest int }

// attnUnit is one kernels.AttendTile of a tile: query heads h0.. (heads
// of them) over KV heads kv0.. (kvHeads of them).
type attnUnit struct{ tile, h0, heads, kv0, kvHeads int }

// attention attends each token's query heads of q to the cache layer's
// keys and values in the token's span, read through the batch's pages
// (or from its base cells) as runs of cells. A token's arithmetic depends
// on its own keys only: neither the runs its pages make nor the other
// tokens in the batch change its bits.
func (e *Executor) attention(n *compute.Node, q, out []float32, batch *compute.Batch) error {
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
		t.scores, t.kbuf, t.vbuf, t.tileScratch = append(t.scores, nil), append(t.kbuf, nil), append(t.vbuf, nil), append(t.tileScratch, nil)
	}
	// A span outgrows the cells only by pages a table repeats.
	size := max(longest, e.cells)
	t.at, t.scale, t.layer, t.q, t.out = at, n.Params.Scale, n.Params.Layer, q, out
	t.keys, t.values = &e.keys[n.Params.Layer], &e.values[n.Params.Layer]
	defer func() { t.q, t.out, t.keys, t.values = nil, nil, nil, nil }()
	if !tiled(e.cache.Type, at) {
		for j, sc := range t.scores {
			if len(sc) < longest {
				t.scores[j] = make([]float32, size)
			}
			if gathers(e.cache.Type, at) && len(t.kbuf[j]) < longest*at.HeadDim {
				t.kbuf[j], t.vbuf[j] = make([]float32, size*at.HeadDim), make([]float32, size*at.HeadDim)
			}
		}
		kernels.Parallel(len(batch.Tokens)*at.Heads, 4, &e.split, t)
		return nil
	}
	group := at.Heads / at.KVHeads
	perTile := max(1, kernels.TileMaxQueries/group)
	t.tiles = e.tileTokens(t.tiles[:0], len(batch.Tokens), perTile)
	t.units = tileUnits(t.units[:0], t.tiles, at, kernels.Threads())
	t.err = nil
	for j, f := range t.tileScratch {
		if need := kernels.AttendTileScratch(kernels.TileMaxQueries, at.HeadDim, size, e.cache.Flash); len(f) < need {
			t.tileScratch[j] = make([]float32, need)
		}
	}
	// Parts claim units one by one: a causal prompt's later tokens cost
	// more, which chunks of several units would leave to one core.
	kernels.ParallelEach(len(t.units), &e.split, t)
	return t.err
}

// tileTokens appends to dst the tiles of n tokens, at most perTile
// tokens each: a token joins the tile before it when its positions and
// the tile's longest token's are prefixes of one another.
func (e *Executor) tileTokens(dst []attnTile, n, perTile int) []attnTile {
	for i := 0; i < n; i++ {
		if k := len(dst) - 1; k >= 0 && dst[k].tokens < perTile {
			tl := &dst[k]
			switch {
			case prefixOf(e.runs[i], e.runs[tl.longest]):
				tl.tokens++
				continue
			case prefixOf(e.runs[tl.longest], e.runs[i]):
				tl.tokens++
				tl.longest = i
				continue
			}
		}
		dst = append(dst, attnTile{first: i, tokens: 1, longest: i})
	}
	return dst
}

// tileUnits appends to dst the units of tiles, on threads cores. A tile
// whose queries read the cache in place (a decode token's, short of
// TileInPlace a KV head) spans several KV heads, so that it reads each
// cache row once, whole: as many as keeps the cores busiest (the fewest
// rounds of equal units, the widest on a tie), within TileMaxQueries.
// Other tiles take a unit a KV head, in chunks of at most TileMaxQueries
// query heads.
func tileUnits(dst []attnUnit, tiles []attnTile, at *compute.Attention, threads int) []attnUnit {
	group := at.Heads / at.KVHeads
	inPlace := 0
	for _, tl := range tiles {
		if tl.tokens*group < kernels.TileInPlace {
			inPlace++
		}
	}
	span, best := 1, 0
	for n := 1; inPlace > 0 && n <= min(at.KVHeads, kernels.TileMaxQueries/group); n++ {
		units := inPlace * ((at.KVHeads + n - 1) / n)
		if cost := (units + threads - 1) / threads * n; best == 0 || cost <= best {
			span, best = n, cost
		}
	}
	for i, tl := range tiles {
		if tl.tokens*group < kernels.TileInPlace {
			widest := min(span, kernels.TileMaxQueries/(tl.tokens*group))
			for kv := 0; kv < at.KVHeads; kv += widest {
				n := min(widest, at.KVHeads-kv)
				dst = append(dst, attnUnit{tile: i, h0: kv * group, heads: n * group, kv0: kv, kvHeads: n})
			}
			continue
		}
		for kv := range at.KVHeads {
			for h := 0; h < group; h += kernels.TileMaxQueries {
				dst = append(dst, attnUnit{tile: i, h0: kv*group + h, heads: min(kernels.TileMaxQueries, group-h), kv0: kv, kvHeads: 1})
			}
		}
	}
	return dst
}

// prefixOf says whether the positions of runs a are the first positions
// of runs b.
func prefixOf(a, b []kernels.Run) bool {
	if len(a) > len(b) {
		return false
	}
	for i, r := range a {
		if b[i].Row != r.Row || b[i].Len < r.Len || b[i].Len > r.Len && i < len(a)-1 {
			return false
		}
	}
	return true
}

// tiled says whether attention runs in tiles: over an f16 cache,
// without soft-capped scores (Gemma 2's cap is applied before the
// softmax, which the tile kernel does not do).
func tiled(t gguf.Type, at *compute.Attention) bool {
	return t == gguf.TypeF16 && at.SoftCap == 0
}

// gathers says whether attention widens a head's keys and values into
// float32 scratch before it attends (Run's generic path): for a Q8_0
// cache, and an F16 one with soft-capped scores.
func gathers(t gguf.Type, at *compute.Attention) bool {
	return t == gguf.TypeQ8_0 || t == gguf.TypeF16 && at.SoftCap > 0
}

// Run implements kernels.Task: over pairs u = token·Heads + head, or,
// on the tiled path, over units.
func (t *attnTask) Run(part, lo, hi int) {
	if tiled(t.e.cache.Type, t.at) {
		t.runTiles(part, t.units[lo:hi])
		return
	}
	at, w := t.at, t.e.cache.Width
	hd := at.HeadDim
	typ := t.e.cache.Type
	group := at.Heads / at.KVHeads
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
				attend(out, q, k, v, hd, all[:], t.scale, at.SoftCap, typ == gguf.TypeF16 && !t.e.cache.Flash, scores)
			} else {
				kernels.AttendRunsF32(out, q, k, v, hd, all[:], t.scale, scores, false)
			}
		default:
			// F32 keeps the Go sums its encoders' tests were measured with
			// (model/bert holds them to 5e-5 of the reference).
			attend(out, q, t.keys.f32[kv:], t.values.f32[kv:], w, runs, t.scale, at.SoftCap, false, scores)
		}
	}
}

// runTiles attends units.
func (t *attnTask) runTiles(part int, units []attnUnit) {
	at, hd := t.at, t.at.HeadDim
	for _, u := range units {
		tl := t.tiles[u.tile]
		at0 := (tl.first*at.Heads + u.h0) * hd
		err := kernels.AttendTileHalf(&kernels.AttendTile{
			Q: t.q[at0:], Out: t.out[at0:], TokenStride: at.Heads * hd, Tokens: tl.tokens, Heads: u.heads, KVHeads: u.kvHeads, HeadDim: hd,
			Spans: t.e.spans[tl.first : tl.first+tl.tokens], K: t.keys.f16[u.kv0*hd:], V: t.values.f16[u.kv0*hd:],
			Stride: t.e.cache.Width, Runs: t.e.runs[tl.longest], Scale: t.scale, Online: t.e.cache.Flash, Scratch: t.tileScratch[part],
		}, false)
		if err != nil {
			t.errMu.Lock()
			if t.err == nil {
				t.err = fmt.Errorf("attention, layer %d: %w", t.layer, err)
			}
			t.errMu.Unlock()
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
