package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/quant"
)

// tileCase is a tile over an f16 cache of rows stride values wide, the
// positions in runs.
type tileCase struct {
	hd, stride, heads int
	kvHeads           int // 0: one
	spans             []int
	runs              []Run
}

// kvOffset is where query head g's keys start in a row.
func (tc tileCase) kvOffset(g int) int { return g / (tc.heads / max(1, tc.kvHeads)) * tc.hd }

var tileCases = []tileCase{
	{hd: 8, stride: 16, heads: 1, spans: []int{1}, runs: []Run{{3, 1}}},
	{hd: 4, stride: 8, heads: 2, spans: []int{5, 0, 130}, runs: []Run{{140, 2}, {0, 128}}},
	{hd: 48, stride: 288, heads: 1, spans: []int{63, 64, 65, 66, 200}, runs: []Run{{16, 16}, {0, 16}, {48, 0}, {64, 180}}},
	{hd: 64, stride: 256, heads: 4, spans: []int{300, 301}, runs: []Run{{20, 7}, {100, 300}}},
	{hd: 20, stride: 40, heads: 3, spans: []int{33}, runs: []Run{{0, 17}, {30, 16}}},
	{hd: 128, stride: 256, heads: 2, spans: []int{31, 32, 33, 97}, runs: []Run{{40, 33}, {2, 16}, {90, 64}}},
	{hd: 100, stride: 200, heads: 1, spans: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, runs: []Run{{1, 5}, {12, 20}}},
	// Tiles over several KV heads: read in place (a decode token's heads,
	// and a few tokens' of small heads), and one KV head at a time (GQA
	// groups of 4, and heads off the vector width).
	{hd: 48, stride: 288, heads: 6, kvHeads: 6, spans: []int{200}, runs: []Run{{16, 16}, {0, 16}, {64, 180}}},
	{hd: 16, stride: 64, heads: 4, kvHeads: 4, spans: []int{40, 41, 42}, runs: []Run{{3, 42}}},
	{hd: 64, stride: 256, heads: 8, kvHeads: 2, spans: []int{100}, runs: []Run{{20, 7}, {100, 300}}},
	{hd: 32, stride: 128, heads: 4, kvHeads: 2, spans: []int{5, 70}, runs: []Run{{0, 70}}},
	{hd: 20, stride: 60, heads: 2, kvHeads: 2, spans: []int{33}, runs: []Run{{0, 17}, {30, 16}}},
}

// tileData is a tile's cache (f16 bits and the same values widened)
// and queries, random.
type tileData struct {
	hk, hv []uint16
	fk, fv []float32
	q      []float32
	vmax   float64
}

func newTileData(rng *rand.Rand, tc tileCase) tileData {
	rows := 0
	for _, r := range tc.runs {
		rows = max(rows, r.Row+r.Len)
	}
	d := tileData{hk: make([]uint16, rows*tc.stride), hv: make([]uint16, rows*tc.stride)}
	d.fk, d.fv = make([]float32, len(d.hk)), make([]float32, len(d.hv))
	for i := range d.hk {
		d.hk[i], d.hv[i] = quant.F32ToF16(2*float32(rng.NormFloat64())), quant.F32ToF16(float32(rng.NormFloat64()))
		d.fk[i], d.fv[i] = quant.F16ToF32(d.hk[i]), quant.F16ToF32(d.hv[i])
		d.vmax = max(d.vmax, math.Abs(float64(d.fv[i])))
	}
	d.q = make([]float32, len(tc.spans)*tc.heads*tc.hd)
	RoundF16(randVec(rng, len(d.q)), d.q, true)
	return d
}

func (tc tileCase) tile(d tileData, out []float32, online bool) *AttendTile {
	return &AttendTile{Q: d.q, Out: out, TokenStride: tc.heads * tc.hd, Tokens: len(tc.spans), Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.hd,
		Spans: tc.spans, K: d.hk, V: d.hv, Stride: tc.stride, Runs: tc.runs, Scale: float32(1 / math.Sqrt(float64(tc.hd))), Online: online,
		Scratch: make([]float32, AttendTileScratch(len(tc.spans)*tc.heads, tc.hd, maxOf(tc.spans), online))}
}

// TestAttendTileHalf holds each kernel set's tile attention to the
// two-pass attention of one query (AttendRuns in Go) over the same
// values. By default the Go set gives its bits and the C ones are within
// 5e-4 of the largest |v|: their scores sum in another order, so now and
// then a weight rounds to the neighbouring f16 (at most 2^-11 of a
// weight below 1). Online, the Go set is within 1e-3 of the largest |v| (flash
// leaves the weights float32 where AttendRuns rounds them to f16, a
// relative 2^-12 each on average), and the C ones within 1e-5 of the Go
// set. Heads sharing a KV head, spans across blocks and ending inside
// one, empty spans and runs, and head sizes off the vector width are
// covered.
func TestAttendTileHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, online := range []bool{false, true} {
			for _, tc := range tileCases {
				d := newTileData(rng, tc)
				got, ref := randVec(rng, len(d.q)), randVec(rng, len(d.q)) // poisoned
				if err := AttendTileHalf(tc.tile(d, got, online), false); err != nil {
					t.Fatal(err)
				}
				if err := AttendTileHalf(tc.tile(d, ref, online), true); err != nil {
					t.Fatal(err)
				}
				refTol, simdTol := 0.0, 5e-4
				if online {
					refTol, simdTol = 1e-3, 1e-5
				}
				if v == isaGo {
					simdTol = 0
				}
				scores := make([]float32, 512)
				for tok, span := range tc.spans {
					for g := range tc.heads {
						at := (tok*tc.heads + g) * tc.hd
						want := make([]float32, tc.hd)
						kv := tc.kvOffset(g)
						AttendRuns(want, d.q[at:][:tc.hd], d.fk[kv:], d.fv[kv:], tc.stride, cut(tc.runs, span), float32(1/math.Sqrt(float64(tc.hd))), scores, true)
						for i, w := range want {
							if e := math.Abs(float64(ref[at+i] - w)); !(e <= refTol*d.vmax) {
								t.Fatalf("online %v hd %d span %d head %d: Go out[%d] = %v, two-pass %v", online, tc.hd, span, g, i, ref[at+i], w)
							}
							if e := math.Abs(float64(got[at+i] - ref[at+i])); !(e <= simdTol*d.vmax) {
								t.Fatalf("online %v hd %d span %d head %d: out[%d] = %v, Go %v", online, tc.hd, span, g, i, got[at+i], ref[at+i])
							}
						}
					}
				}
			}
		}
	})
}

// TestAttendTileHalfInvariant: a query's output has the same bits in a
// tile of many tokens and heads as alone, with its positions in the
// tile's runs or in single-row pages, on each kernel set, both ways.
func TestAttendTileHalfInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, online := range []bool{false, true} {
			for _, tc := range tileCases {
				d := newTileData(rng, tc)
				all := make([]float32, len(d.q))
				if err := AttendTileHalf(tc.tile(d, all, online), false); err != nil {
					t.Fatal(err)
				}
				for tok, span := range tc.spans {
					var pages []Run
					for _, r := range cut(tc.runs, span) {
						for j := range r.Len {
							pages = append(pages, Run{Row: r.Row + j, Len: 1})
						}
					}
					for g := range tc.heads {
						at := (tok*tc.heads + g) * tc.hd
						alone := tileCase{hd: tc.hd, stride: tc.stride, heads: 1, spans: []int{span}, runs: pages}
						kv := tc.kvOffset(g)
						one := tileData{hk: d.hk[kv:], hv: d.hv[kv:], q: d.q[at:][:tc.hd]}
						out := make([]float32, tc.hd)
						if err := AttendTileHalf(alone.tile(one, out, online), false); err != nil {
							t.Fatal(err)
						}
						for i, o := range out {
							if math.Float32bits(o) != math.Float32bits(all[at+i]) {
								t.Fatalf("online %v hd %d span %d head %d: alone out[%d] = %v, in the tile %v", online, tc.hd, span, g, i, o, all[at+i])
							}
						}
					}
				}
			}
		}
	})
}

// TestAttendTileHalfRefused: a tile that does not fit its buffers is an
// error, not a read past them.
func TestAttendTileHalfRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	tc := tileCases[2]
	for _, c := range []struct {
		name   string
		breaks func(*AttendTile)
	}{
		{"span past the runs", func(f *AttendTile) { f.Spans = []int{1, 1, 1, 1, 500} }},
		{"run past the cache", func(f *AttendTile) { f.Runs = []Run{{0, 5000}} }},
		{"short scratch", func(f *AttendTile) { f.Scratch = f.Scratch[:10] }},
		{"too many queries", func(f *AttendTile) { f.Heads = 4 }},
		{"spans and tokens differ", func(f *AttendTile) { f.Tokens = 2 }},
		{"heads not a multiple of KV heads", func(f *AttendTile) { f.Tokens, f.Spans, f.Heads, f.KVHeads = 1, []int{1}, 3, 2 }},
		{"KV heads past the row", func(f *AttendTile) { f.Tokens, f.Spans, f.Heads, f.KVHeads = 1, []int{100}, 7, 7 }},
	} {
		f := tc.tile(newTileData(rng, tc), make([]float32, 5*48), false)
		c.breaks(f)
		if err := AttendTileHalf(f, false); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// cut is prefixRuns on a copy of runs.
func cut(runs []Run, n int) []Run { return prefixRuns(append([]Run(nil), runs...), n) }

// BenchmarkAttendTile: bench-15m's heads (48 wide, rows of 288) over a
// 1,024-position prompt prefix in pages of 16: a tile of 16 tokens, both
// ways, against 16 calls of the one-query kernel over the same values.
func BenchmarkAttendTile(b *testing.B) {
	rng := rand.New(rand.NewPCG(67, 68))
	const hd, stride, span = 48, 288, 1024
	var runs []Run
	for p := range span / 16 {
		runs = append(runs, Run{Row: (p * 37 % (span / 16)) * 16, Len: 16})
	}
	spans := make([]int, 16)
	for i := range spans {
		spans[i] = span - 15 + i
	}
	tc := tileCase{hd: hd, stride: stride, heads: 1, spans: spans, runs: runs}
	d := newTileData(rng, tc)
	out := make([]float32, len(d.q))
	for _, online := range []bool{false, true} {
		name := "tile"
		if online {
			name = "online"
		}
		b.Run(name, func(b *testing.B) {
			f := tc.tile(d, out, online)
			for b.Loop() {
				if err := AttendTileHalf(f, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("one-query", func(b *testing.B) {
		scores := make([]float32, span)
		for b.Loop() {
			for i, s := range spans {
				AttendRuns(out[i*hd:][:hd], d.q[i*hd:][:hd], d.fk, d.fv, stride, cut(runs, s), 0.14, scores, false)
			}
		}
	})
}
