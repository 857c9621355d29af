package kernels

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/quant"
)

// AttendTile is one call of AttendTileHalf: the queries of a tile of
// tokens that share one KV head (its heads of a GQA group) and one
// sequence's key positions, each token seeing a prefix of them. Its keys
// and values are widened once a block of positions for all its queries
// (a tile of fewer than four reads them in place, converting as it
// goes: the same values), and its scores are summed eight keys at a
// time, which is where a long prompt's attention saves over attending
// query by query.
type AttendTile struct {
	// Q and Out hold query (token t, head g) and its output at
	// t·TokenStride + g·HeadDim.
	Q, Out      []float32
	TokenStride int
	Tokens      int // tokens in the tile
	Heads       int // query heads a token
	HeadDim     int
	// KVHeads is how many consecutive KV heads the query heads share in
	// equal groups, in order (0 means 1): query head g reads KV head
	// g/(Heads/KVHeads), its keys and values HeadDim apart. A decode
	// token's heads in one tile read each cache row once, whole, where a
	// tile a KV head would read the row in pieces, one a tile.
	KVHeads int
	// Spans[t] is how many positions token t sees: the first Spans[t]
	// rows of Runs, taken in order.
	Spans []int
	// K and V hold the f16 keys and values of position p's cell at
	// row·Stride, the row given by Runs; they start at the first KV
	// head's first value.
	K, V   []uint16
	Stride int
	Runs   []Run
	Scale  float32
	// Online selects flash attention's arithmetic (see AttendTileHalf).
	Online bool
	// Scratch holds AttendTileScratch floats.
	Scratch []float32
}

// TileMaxQueries bounds a tile's queries (Tokens·Heads), which bounds
// its scratch.
const TileMaxQueries = 16

// TileInPlace is the fewest queries a KV head at which the SIMD kernels
// widen a block's rows (the C kernels' tileInPlace); fewer read the f16
// rows in place, and only then does a tile over several KV heads read
// each row once: with more, it runs as one tile a KV head.
const TileInPlace = 4

// tileBlock is how many key positions one block holds: a block's keys
// and values, widened, stay within 32 KiB. It depends on the head size
// alone, so a query's blocks (and bits) are the same in any tile.
func tileBlock(hd int) int {
	if tilePad(hd) <= 64 {
		return 64
	}
	return 32
}

// tilePad is hd rounded up to whole 8-float vectors.
func tilePad(hd int) int { return (hd + 7) &^ 7 }

// AttendTileScratch is how many floats of scratch a tile of queries of
// head size hd needs, its longest span being longest positions.
func AttendTileScratch(queries, hd, longest int, online bool) int {
	b, p := tileBlock(hd), tilePad(hd)
	scores := (longest + 7) &^ 7
	if online {
		scores = b
	}
	return 2*b*p + queries*(2*p+2+scores)
}

// AttendTileHalf attends each query of the tile over the f16 keys and
// values of its positions. By default it is attention as llama.cpp
// computes it without flash attention: all the scores, a softmax, the
// weights rounded to f16 (its f16 V cache's product converts them), then
// their product with the values; the scores take a span's floats a query.
// Online, it is flash attention: position blocks of tileBlock from the
// first, each folded into a running maximum, sum and output, so nothing
// spans the context, and the weights stay float32. A query's arithmetic
// depends on its own query, keys and values only: the same bits in any
// tile.
func AttendTileHalf(t *AttendTile, portable bool) error {
	hd, nq, kvh := t.HeadDim, t.Tokens*t.Heads, t.kvHeads()
	if nq == 0 || hd == 0 {
		return nil
	}
	if nq > TileMaxQueries || len(t.Spans) != t.Tokens {
		return fmt.Errorf("attention tile of %d tokens × %d heads with %d spans (at most %d queries)", t.Tokens, t.Heads, len(t.Spans), TileMaxQueries)
	}
	if t.Heads%kvh != 0 {
		return fmt.Errorf("attention tile: %d query heads over %d KV heads", t.Heads, kvh)
	}
	positions, longest := 0, 0
	for _, r := range t.Runs {
		if r.Len > 0 {
			end := (r.Row+r.Len-1)*t.Stride + kvh*hd
			if end > len(t.K) || end > len(t.V) {
				return fmt.Errorf("attention tile: run %+v past the cache's %d values", r, min(len(t.K), len(t.V)))
			}
			positions += r.Len
		}
	}
	for _, s := range t.Spans {
		longest = max(longest, s)
	}
	last := (t.Tokens-1)*t.TokenStride + t.Heads*hd
	switch {
	case longest > positions:
		return fmt.Errorf("attention tile: a span of %d positions over runs of %d", longest, positions)
	case last > len(t.Q) || last > len(t.Out):
		return fmt.Errorf("attention tile: %d query values past %d", last, min(len(t.Q), len(t.Out)))
	case len(t.Scratch) < AttendTileScratch(nq, hd, longest, t.Online):
		return fmt.Errorf("attention tile: %d floats of scratch, %d needed", len(t.Scratch), AttendTileScratch(nq, hd, longest, t.Online))
	}
	if v := use(portable); v >= isaAVX2 {
		simdAttendTileHalf(t, longest, v >= isaAVX512)
		return nil
	}
	if !t.Online {
		tileHalfGo(t)
		return nil
	}
	flashHalfGo(t)
	return nil
}

func (t *AttendTile) kvHeads() int { return max(1, t.KVHeads) }

// kvOffset is where query head g's keys and values start in a row.
func (t *AttendTile) kvOffset(g int) int { return g / (t.Heads / t.kvHeads()) * t.HeadDim }

// tileHalfGo is AttendTileHalf's default arithmetic in Go, the
// reference: attendRuns's, query by query.
func tileHalfGo(t *AttendTile) {
	hd := t.HeadDim
	var scores []float32
	var runs []Run
	for tok, span := range t.Spans {
		runs = append(runs[:0], t.Runs...)
		runs = prefixRuns(runs, span)
		if len(scores) < span {
			scores = make([]float32, span)
		}
		for g := range t.Heads {
			at := tok*t.TokenStride + g*hd
			kv := t.kvOffset(g)
			attendRuns(t.Out[at:][:hd], t.Q[at:][:hd], t.K[kv:], t.V[kv:], t.Stride, runs, t.Scale, scores, true, true, nil)
		}
	}
}

// prefixRuns cuts runs (in place) to their first n positions.
func prefixRuns(runs []Run, n int) []Run {
	for i, r := range runs {
		if n <= r.Len {
			runs[i].Len = n
			return runs[:i+1]
		}
		n -= r.Len
	}
	return runs
}

// flashHalfGo is AttendTileHalf's online arithmetic in Go, the
// reference: query by query, block by block.
func flashHalfGo(t *AttendTile) {
	hd, b := t.HeadDim, tileBlock(t.HeadDim)
	rows := make([]int, 0, b)
	acc := make([]float32, hd)
	scores := make([]float32, b)
	for tok := range t.Tokens {
		span := t.Spans[tok]
		for g := range t.Heads {
			at := tok*t.TokenStride + g*hd
			q, out, kv := t.Q[at:][:hd], t.Out[at:][:hd], t.kvOffset(g)
			clear(acc)
			m, l := float32(math.Inf(-1)), float32(0)
			cursor := runCursor{runs: t.Runs}
			for b0 := 0; b0 < span; b0 += b {
				rows = cursor.next(rows[:0], min(b, span-b0))
				mb := float32(math.Inf(-1))
				for i, row := range rows {
					kp := t.K[row*t.Stride+kv:][:hd]
					var d float32
					for j, qv := range q {
						d += qv * quant.F16ToF32(kp[j])
					}
					scores[i] = d * t.Scale
					mb = max(mb, scores[i])
				}
				mNew := max(m, mb)
				c := float32(0)
				if !math.IsInf(float64(m), -1) {
					c = float32(math.Exp(float64(m - mNew)))
				}
				m = mNew
				var sum float32
				for i := range rows {
					p := float32(math.Exp(float64(scores[i] - m)))
					scores[i] = p
					sum += p
				}
				l = l*c + sum
				for j := range acc {
					acc[j] *= c
				}
				for i, row := range rows {
					vp, p := t.V[row*t.Stride+kv:][:hd], scores[i]
					for j := range acc {
						acc[j] += p * quant.F16ToF32(vp[j])
					}
				}
			}
			if l == 0 {
				clear(out)
				continue
			}
			inv := 1 / l
			for j, a := range acc {
				out[j] = a * inv
			}
		}
	}
}

// runCursor walks the rows of runs in order.
type runCursor struct {
	runs   []Run
	run, i int
}

// next appends the next n rows to dst.
func (c *runCursor) next(dst []int, n int) []int {
	for n > 0 && c.run < len(c.runs) {
		r := c.runs[c.run]
		take := min(n, r.Len-c.i)
		for j := range take {
			dst = append(dst, r.Row+c.i+j)
		}
		c.i += take
		n -= take
		if c.i == r.Len {
			c.run, c.i = c.run+1, 0
		}
	}
	return dst
}
