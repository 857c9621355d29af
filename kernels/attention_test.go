package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// TestAttend runs each kernel set's attention (portable false, the set
// forced) against the Go reference (portable true) on random queries,
// keys and values, for head widths on and off the vector size, spans from
// one position to several hundred and rows wider than a head (a KV cache
// row holds every KV head). The Go set must give the reference exactly;
// the C ones are within 1e-5 of the largest |v| (the dot products sum in
// another order, exp is a polynomial within 2 ulp).
func TestAttend(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	forEachISA(t, func(t *testing.T, v isa) {
		tol := 1e-5
		if v == isaGo {
			tol = 0
		}
		for _, tc := range []struct{ hd, stride, span int }{
			{4, 8, 1}, {4, 8, 130}, {8, 32, 9}, {8, 32, 128}, {12, 48, 33},
			{64, 256, 1}, {64, 256, 300}, {100, 200, 17}, {128, 512, 257},
		} {
			q := randVec(rng, tc.hd)
			k, vals := randVec(rng, tc.span*tc.stride), randVec(rng, tc.span*tc.stride)
			var vmax float64
			for _, x := range vals {
				vmax = max(vmax, math.Abs(float64(x)))
			}
			scale := float32(1 / math.Sqrt(float64(tc.hd)))
			want, got := randVec(rng, tc.hd), randVec(rng, tc.hd) // poisoned
			Attend(want, q, k, vals, tc.stride, scale, make([]float32, tc.span), true)
			Attend(got, q, k, vals, tc.stride, scale, make([]float32, tc.span), false)
			for i := range want {
				if e := math.Abs(float64(got[i] - want[i])); !(e <= tol*vmax) {
					t.Fatalf("hd=%d span=%d: out[%d] = %v, Go %v", tc.hd, tc.span, i, got[i], want[i])
				}
			}
		}
	})
}

// TestRope runs each kernel set's rotation against the Go reference in
// both modes, for rotated widths on and off the vector size and partial
// rotation (rope dimension below the head width). The Go set must give
// the reference exactly; the C ones are within 1e-6 of the largest |x|
// (fused multiply-adds round once where Go rounds twice).
func TestRope(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	forEachISA(t, func(t *testing.T, v isa) {
		tol := 1e-6
		if v == isaGo {
			tol = 0
		}
		for _, tc := range []struct{ heads, hd, rd int }{
			{2, 4, 4}, {8, 8, 8}, {4, 64, 64}, {4, 64, 32}, {3, 128, 128}, {2, 96, 40}, {1, 6, 6},
		} {
			for _, neox := range []bool{false, true} {
				cs := make([]float32, tc.rd)
				for i := 0; i < tc.rd; i += 2 {
					a := rng.Float64() * 100
					cs[i], cs[i+1] = float32(math.Cos(a)), float32(math.Sin(a))
				}
				x := randVec(rng, tc.heads*tc.hd)
				want, got := append([]float32(nil), x...), append([]float32(nil), x...)
				Rope(want, cs, tc.hd, neox, true)
				Rope(got, cs, tc.hd, neox, false)
				var scale float64
				for _, f := range x {
					scale = max(scale, math.Abs(float64(f)))
				}
				for i := range want {
					if e := math.Abs(float64(got[i] - want[i])); !(e <= tol*scale) {
						t.Fatalf("%+v neox=%v: x[%d] = %v, Go %v", tc, neox, i, got[i], want[i])
					}
				}
				if tc.rd < tc.hd && got[tc.hd-1] != x[tc.hd-1] {
					t.Fatalf("%+v: dimension past the rope width changed", tc)
				}
			}
		}
	})
}

// TestRopeRotates checks the Go reference itself on a known case: a
// quarter turn maps each pair (a, b) to (-b, a).
func TestRopeRotates(t *testing.T) {
	for _, tc := range []struct {
		neox bool
		want []float32
	}{
		{false, []float32{0, 1, -3, 2}}, // pairs (0,1), (2,3)
		{true, []float32{-2, -3, 1, 0}}, // pairs (0,2), (1,3)
	} {
		x := []float32{1, 0, 2, 3}
		cs := []float32{0, 1, 0, 1} // cos 0, sin 1 for both pairs
		Rope(x, cs, 4, tc.neox, true)
		for i := range x {
			if x[i] != tc.want[i] {
				t.Errorf("neox=%v: got %v, want %v", tc.neox, x, tc.want)
				break
			}
		}
	}
}

// TestAttendRuns: keys and values scattered over runs of rows (pages of
// a paged cache, runs starting at odd and even positions, empty runs)
// give each kernel set exactly the bits of the same rows kept in one
// contiguous run.
func TestAttendRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, tc := range []struct {
			hd, stride int
			lens       []int
		}{
			{4, 8, []int{1, 1, 1}}, {8, 16, []int{3, 0, 5, 16}}, {12, 48, []int{16, 16, 1}},
			{64, 128, []int{7, 16, 9}}, {100, 200, []int{5, 2, 11}}, {128, 256, []int{16, 33, 1, 16}},
		} {
			span := 0
			for _, l := range tc.lens {
				span += l
			}
			q := randVec(rng, tc.hd)
			k, vals := randVec(rng, span*tc.stride), randVec(rng, span*tc.stride)
			// Scatter the rows: run r goes to rows placed backwards, with a
			// gap of 3 rows between runs.
			rows := span + 3*len(tc.lens)
			sk, sv := randVec(rng, rows*tc.stride), randVec(rng, rows*tc.stride)
			var runs []Run
			p, end := 0, rows
			for _, l := range tc.lens {
				end -= l + 3
				runs = append(runs, Run{Row: end, Len: l})
				copy(sk[end*tc.stride:], k[p*tc.stride:(p+l)*tc.stride])
				copy(sv[end*tc.stride:], vals[p*tc.stride:(p+l)*tc.stride])
				p += l
			}
			scale := float32(1 / math.Sqrt(float64(tc.hd)))
			want, got := randVec(rng, tc.hd), randVec(rng, tc.hd)
			Attend(want, q, k, vals, tc.stride, scale, make([]float32, span), false)
			AttendRuns(got, q, sk, sv, tc.stride, runs, scale, make([]float32, span), false)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("hd=%d runs %v: out[%d] = %v, contiguous %v", tc.hd, runs, i, got[i], want[i])
				}
			}
		}
	})
}

// TestAttendRunsF32: each kernel set's attention with float32 weights
// is within TestAttend's bound of the Go reference, gives the same bits
// however the keys split into runs, and leaves in scores the softmax
// itself (no f16 rounding: it sums to 1 within float32 noise and holds
// values no f16 can).
func TestAttendRunsF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	const hd, stride, span = 40, 80, 37
	q, k, v := randVec(rng, hd), randVec(rng, 2*span*stride), randVec(rng, 2*span*stride)
	whole := []Run{{Row: 5, Len: span}}
	split := []Run{{Row: 5, Len: 16}, {Row: 21, Len: 5}, {Row: 26, Len: span - 21}}
	ref := make([]float32, hd)
	AttendRunsF32(ref, q, k, v, stride, whole, 0.2, make([]float32, span), true)
	forEachISA(t, func(t *testing.T, isa isa) {
		a, b := make([]float32, hd), make([]float32, hd)
		scores := make([]float32, span)
		AttendRunsF32(a, q, k, v, stride, whole, 0.2, scores, false)
		AttendRunsF32(b, q, k, v, stride, split, 0.2, make([]float32, span), false)
		var sum float64
		half := 0
		for _, w := range scores {
			sum += float64(w)
			if quant.F16ToF32(quant.F32ToF16(w)) == w {
				half++
			}
		}
		if math.Abs(sum-1) > 1e-5 || half == span {
			t.Fatalf("weights sum to %v, %d of %d f16 values", sum, half, span)
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("out[%d] = %v in one run, %v split", i, a[i], b[i])
			}
			if e := math.Abs(float64(a[i] - ref[i])); e > 1e-5*4 {
				t.Fatalf("out[%d] = %v, Go %v", i, a[i], ref[i])
			}
		}
	})
}

// TestGatherHalf: each kernel set's GatherHalf widens exactly what
// quant.F16ToF32 does, over runs of rows.
func TestGatherHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, tc := range []struct {
			hd, stride int
			runs       []Run
		}{
			{4, 8, []Run{{2, 1}, {0, 1}}}, {8, 16, []Run{{5, 3}, {0, 0}, {9, 5}}}, {12, 48, []Run{{0, 17}}},
			{64, 128, []Run{{20, 7}, {3, 16}}}, {100, 200, []Run{{1, 5}, {12, 2}}}, {128, 256, []Run{{40, 33}, {2, 16}}},
		} {
			rows, span := 0, 0
			for _, r := range tc.runs {
				rows, span = max(rows, r.Row+r.Len), span+r.Len
			}
			hk, hv := make([]uint16, rows*tc.stride), make([]uint16, rows*tc.stride)
			fk, fv := make([]float32, len(hk)), make([]float32, len(hv))
			for i := range hk {
				hk[i], hv[i] = quant.F32ToF16(float32(rng.NormFloat64())), quant.F32ToF16(float32(rng.NormFloat64()))
				fk[i], fv[i] = quant.F16ToF32(hk[i]), quant.F16ToF32(hv[i])
			}
			g := make([]float32, span*tc.hd)
			GatherHalf(g, hk, tc.stride, tc.hd, tc.runs, false)
			p := 0
			for _, r := range tc.runs {
				for j := range r.Len {
					for i := range tc.hd {
						if w := fk[(r.Row+j)*tc.stride+i]; g[p*tc.hd+i] != w {
							t.Fatalf("hd=%d runs %v: gathered [%d][%d] = %v, want %v", tc.hd, tc.runs, p, i, g[p*tc.hd+i], w)
						}
					}
					p++
				}
			}
		}
	})
}

// TestGatherQ8_0: each kernel set widens Q8_0 rows exactly as
// quant.Dequantize does, for head slices starting inside a block, across
// blocks and at odd offsets.
func TestGatherQ8_0(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	const width, cells = 96, 9
	rowBytes := width / 32 * 34
	src := make([]byte, cells*rowBytes)
	want := make([]float32, cells*width)
	for c := range cells {
		q, err := quant.Quantize(gguf.TypeQ8_0, randVec(rng, width))
		if err != nil {
			t.Fatal(err)
		}
		copy(src[c*rowBytes:], q)
		if err := quant.Dequantize(gguf.TypeQ8_0, q, want[c*width:(c+1)*width]); err != nil {
			t.Fatal(err)
		}
	}
	runs := []Run{{Row: 6, Len: 3}, {Row: 0, Len: 2}, {Row: 4, Len: 0}, {Row: 3, Len: 1}}
	forEachISA(t, func(t *testing.T, v isa) {
		for _, s := range []struct{ off, hd int }{{0, 32}, {32, 64}, {8, 16}, {24, 40}, {3, 13}, {0, 96}, {64, 8}} {
			got := make([]float32, 6*s.hd)
			GatherQ8_0(got, src, rowBytes, s.off, s.hd, runs, false)
			p := 0
			for _, r := range runs {
				for c := r.Row; c < r.Row+r.Len; c++ {
					for i := range s.hd {
						if w := want[c*width+s.off+i]; got[p*s.hd+i] != w {
							t.Fatalf("off %d hd %d: cell %d value %d = %v, want %v", s.off, s.hd, c, i, got[p*s.hd+i], w)
						}
					}
					p++
				}
			}
		}
	})
}

// BenchmarkAttend: one head of a decode step over 1024 positions (head
// width 64 in rows of 256), the keys in one run and in pages of 16, kept
// as float32 and as f16. Speed only; the tests hold the values.
func BenchmarkAttend(b *testing.B) {
	const hd, stride, span = 64, 256, 1024
	rng := rand.New(rand.NewPCG(39, 40))
	q, fk, fv := randVec(rng, hd), randVec(rng, span*stride), randVec(rng, span*stride)
	hk, hv := make([]uint16, len(fk)), make([]uint16, len(fv))
	for i := range fk {
		hk[i], hv[i] = quant.F32ToF16(fk[i]), quant.F32ToF16(fv[i])
	}
	out, scores := make([]float32, hd), make([]float32, span)
	var pages []Run
	for p := span/16 - 1; p >= 0; p-- {
		pages = append(pages, Run{Row: 16 * p, Len: 16})
	}
	for _, runs := range []struct {
		name string
		r    []Run
	}{{"one run", []Run{{0, span}}}, {"pages", pages}} {
		b.Run("f32/"+runs.name, func(b *testing.B) {
			for b.Loop() {
				AttendRuns(out, q, fk, fv, stride, runs.r, 0.125, scores, false)
			}
		})
		b.Run("f16/"+runs.name, func(b *testing.B) {
			t := &AttendTile{Q: q, Out: out, TokenStride: hd, Tokens: 1, Heads: 1, HeadDim: hd, Spans: []int{span},
				K: hk, V: hv, Stride: stride, Runs: runs.r, Scale: 0.125, Scratch: make([]float32, AttendTileScratch(1, hd, span, false))}
			for b.Loop() {
				if err := AttendTileHalf(t, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
