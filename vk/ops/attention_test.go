package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
)

// attnCase is one attention record: its heads and its query rows' keys.
type attnCase struct {
	heads, kvHeads, headDim int
	n, pos0                 int      // query rows; causal row b sees positions 0..pos0+b
	spans                   [][2]int // non-causal: each row's first and end positions (nil: causal)
	softCap                 float32
	// qAmp is the queries' amplitude (1 unless set): larger sharpens the
	// softmax. ramp adds to every key a dimension that grows with the
	// position, so that the scores climb along the row and its running
	// maximum moves at nearly every tile.
	qAmp float32
	ramp bool
}

// packed returns the spans of sequences of the given lengths packed one
// after another into the rows, each row seeing its whole sequence.
func packed(lens ...int) [][2]int {
	var s [][2]int
	row := 0
	for _, l := range lens {
		for range l {
			s = append(s, [2]int{row, row + l})
		}
		row += l
	}
	return s
}

// TestAttention holds the fused attention shader, for each KV cache type,
// to a float64 reference over the values the cache keeps (packKV): f32;
// q8_0; and f16, whose reference rounds q, k and v to f16 and the
// normalised weights too (but for flash attention, whose weights stay
// unrounded). A weight within float32 noise of a midpoint
// between f16 values may round either way; each such weight widens that
// element's bound by one f16 step of it times |v|. Other differences
// (the online softmax's rescaling over tiles among them) stay within
// elemTol of the largest output.
//
// The cases cover GQA, an odd head dimension (f32 only: the other caches
// need even rows, q8_0 whole blocks), packed sequences through page
// tables, and long rows of 1,100 to 1,500 positions over many tiles with
// a partial last one, with scores climbing along the row (ramp) and a
// soft cap.
func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// Workgroups of 64 and of one lavapipe SIMD vector (8), each with
	// both reductions, and tiles of 1, 2 and 8 workgroups' positions.
	// An f16 cache's rows keep their scores between the two passes up
	// to kept positions, longer ones compute them again.
	for _, path := range []struct {
		wg, tile, kept uint32
		sub            bool
		cache          gguf.Type
		flash          bool
	}{
		{64, 64, 0, true, gguf.TypeF32, false}, {64, 128, 0, false, gguf.TypeF32, false}, {8, 64, 0, true, gguf.TypeF32, false}, {8, 8, 0, false, gguf.TypeF32, false},
		{64, 64, 4096, true, gguf.TypeF16, false}, {8, 64, 100, false, gguf.TypeF16, false}, {8, 16, 4096, true, gguf.TypeF16, false}, {8, 64, 1, true, gguf.TypeF16, false},
		{64, 64, 4096, true, gguf.TypeF16, true}, {8, 64, 4096, false, gguf.TypeF16, true}, {8, 8, 0, true, gguf.TypeF16, true}, {8, 64, 4096, true, gguf.TypeF16, true},
		{64, 128, 0, true, gguf.TypeQ8_0, false}, {8, 64, 0, false, gguf.TypeQ8_0, false},
	} {
		h := newHarness(t, path.wg, path.sub)
		h.k.AttentionTile, h.k.AttentionKept = path.tile, path.kept
		for _, tc := range []attnCase{
			{heads: 4, kvHeads: 4, headDim: 16, n: 1},
			{heads: 8, kvHeads: 4, headDim: 8, n: 18},
			{heads: 8, kvHeads: 2, headDim: 32, n: 3, pos0: 70},
			{heads: 6, kvHeads: 6, headDim: 64, n: 5, spans: packed(5)},
			{heads: 4, kvHeads: 1, headDim: 8, n: 200, spans: packed(1, 120, 7, 72)},
			{heads: 2, kvHeads: 1, headDim: 5, n: 3, pos0: 10},
			{heads: 4, kvHeads: 2, headDim: 64, n: 3, pos0: 1100, qAmp: 3, ramp: true},
			{heads: 2, kvHeads: 1, headDim: 64, n: 2, spans: [][2]int{{0, 1337}, {400, 1337}}, softCap: 2.5, qAmp: 3, ramp: true},
			{heads: 8, kvHeads: 2, headDim: 128, n: 1, pos0: 1499, qAmp: 2},
		} {
			name := fmt.Sprintf("attention %+v wg %d tile %d kept %d subgroups %v cache %s flash %v", tc, path.wg, path.tile, path.kept, path.sub, path.cache, path.flash)
			testAttention(t, h, r, name, AttentionKind{Cache: path.cache, Flash: path.flash, HeadDim: tc.headDim}, tc)
		}
	}
}

func testAttention(t *testing.T, h *harness, r *rand.Rand, name string, kind AttentionKind, tc attnCase) {
	cache := kind.Cache
	kvDim, qDim := tc.kvHeads*tc.headDim, tc.heads*tc.headDim
	if KVRowBytes(cache, kvDim) == 0 {
		return // rows of 8 are not whole q8_0 blocks, rows of 5 not f16 pairs
	}
	half := cache == gguf.TypeF16
	causal := tc.spans == nil
	first, end := make([]int, tc.n), make([]int, tc.n)
	ctx := 0
	for b := range tc.n {
		if causal {
			first[b], end[b] = 0, tc.pos0+b+1
		} else {
			first[b], end[b] = tc.spans[b][0], tc.spans[b][1]
		}
		ctx = max(ctx, end[b])
	}
	// Non-causal rows find their positions in pages of 4 cells laid out
	// backwards (one page table, after the rows' ranges); causal ones in
	// cell = position. Cell 0 is left out (KVOff 1).
	const page = 4
	pages := (ctx + page - 1) / page
	cellOf := func(x int) int { return x }
	ranges := make([]uint32, 3*tc.n, 3*tc.n+pages)
	if !causal {
		cellOf = func(x int) int { return (pages-1-x/page)*page + x%page }
		for j := range pages {
			ranges = append(ranges, uint32(cellOf(j*page)))
		}
	}
	for b := range tc.n {
		ranges[3*b], ranges[3*b+1], ranges[3*b+2] = uint32(first[b]), uint32(end[b]), uint32(3*tc.n)
	}
	amp := tc.qAmp
	if amp == 0 {
		amp = 1
	}
	q := randFloats(r, tc.n*qDim, amp)
	keys := randFloats(r, (pages*page+1)*kvDim, 1)
	vals := randFloats(r, (pages*page+1)*kvDim, 1)
	if tc.ramp {
		for x := range ctx {
			for kh := range tc.kvHeads {
				keys[(cellOf(x)+1)*kvDim+kh*tc.headDim] = 4 * float32(x) / float32(ctx)
			}
		}
		for i := 0; i < len(q); i += tc.headDim {
			q[i] = 4
		}
	}
	kraw, rk := packKV(t, cache, kvDim, keys)
	vraw, rv := packKV(t, cache, kvDim, vals)
	qb, kb, vb, ob := h.floats(q), h.bytes(kraw), h.bytes(vraw), h.poisoned(tc.n*qDim)
	rb := vk.Range{}
	if !causal {
		rf := make([]float32, len(ranges))
		for i, u := range ranges {
			rf[i] = math.Float32frombits(u)
		}
		rb = h.floats(rf).All()
	}
	op, err := h.k.BindAttention(h.sets, kind, qb.All(), kb.All(), vb.All(), ob.All(), rb)
	if err != nil {
		t.Fatal(err)
	}
	scale := float32(1 / math.Sqrt(float64(tc.headDim)))
	sh := AttentionShape{N: tc.n, Heads: tc.heads, KVHeads: tc.kvHeads, QStride: qDim,
		KVStride: kvDim, KVOff: 1, Pos0: tc.pos0, Causal: causal, PageCells: page, Scale: scale, SoftCap: tc.softCap}
	h.run(func(s *vk.Step) { op.Record(s, sh) })
	got := h.read(ob, tc.n*qDim)
	if tc.n > 1 {
		// Rows in dispatches of 2 (as past the device's workgroups in
		// y): the same bits.
		nan := make([]float32, tc.n*qDim)
		for i := range nan {
			nan[i] = poison
		}
		h.write(ob, nan)
		op.limit = 2
		h.run(func(s *vk.Step) { op.Record(s, sh) })
		for i, v := range h.read(ob, tc.n*qDim) {
			if math.Float32bits(v) != math.Float32bits(got[i]) {
				t.Fatalf("%s: [%d] = %v in dispatches of 2 rows, %v in one", name, i, v, got[i])
			}
		}
	}

	rq := q
	if half {
		rq = make([]float32, len(q))
		for i := range q {
			rq[i] = round16(q[i])
		}
	}
	want := make([]float32, tc.n*qDim)
	slack := make([]float64, tc.n*qDim) // from weights that may round either way
	for b := range tc.n {
		lo, span := first[b], end[b]-first[b]
		for hd := range tc.heads {
			kvh := hd / (tc.heads / tc.kvHeads) * tc.headDim
			sc := make([]float64, span)
			for p := range sc {
				for i := range tc.headDim {
					sc[p] += float64(rq[b*qDim+hd*tc.headDim+i]) * float64(rk[(cellOf(lo+p)+1)*kvDim+kvh+i])
				}
				sc[p] *= float64(scale)
				if c := float64(tc.softCap); c > 0 {
					sc[p] = c * math.Tanh(sc[p]/c)
				}
			}
			w, step := attentionWeights(sc, half && !kind.Flash)
			for i := range tc.headDim {
				var acc float64
				o := b*qDim + hd*tc.headDim + i
				for p := range sc {
					vp := float64(rv[(cellOf(lo+p)+1)*kvDim+kvh+i])
					acc += w[p] * vp
					slack[o] += step[p] * math.Abs(vp)
				}
				want[o] = float32(acc)
			}
		}
	}
	mag := maxAbs(want)
	for i := range want {
		if e := math.Abs(float64(got[i] - want[i])); !(e <= elemTol*mag+slack[i]) {
			t.Fatalf("%s: [%d] = %v, want %v (slack %v)", name, i, got[i], want[i], slack[i])
		}
	}
}

// attentionWeights returns the softmax of scores sc, and per weight the
// f16 step by which it may differ (0 unless half puts it within float32
// noise of a rounding midpoint): half rounds the normalised weights to
// f16.
func attentionWeights(sc []float64, half bool) (w, step []float64) {
	top := math.Inf(-1)
	for _, s := range sc {
		top = max(top, s)
	}
	var z float64
	for _, s := range sc {
		z += math.Exp(s - top)
	}
	w, step = make([]float64, len(sc)), make([]float64, len(sc))
	for p, s := range sc {
		w[p] = math.Exp(s-top) / z
		if half {
			rw := float64(round16(float32(w[p])))
			if ulp := f16Step(w[p]); math.Abs(math.Abs(w[p]-rw)-ulp/2) < 1e-5*w[p] {
				step[p] = ulp
			}
			w[p] = rw
		}
	}
	return w, step
}

// f16Step is the spacing of f16 values around x > 0 (2^-24 below the
// normal range).
func f16Step(x float64) float64 {
	_, e := math.Frexp(x) // x = f·2^e, f in [0.5, 1)
	return math.Ldexp(1, max(e-1, -14)-10)
}
