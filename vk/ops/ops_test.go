package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/vk"
)

// Error bounds. The shaders dequantize exactly as the reference does, so
// what differs is f32 arithmetic and summation order: a product is held to
// matvecTol of the sum of |w*x| over its row; norms, rope, attention and
// the elementwise ops to elemTol relative to the largest output.
const (
	matvecTol = 2e-6
	elemTol   = 2e-5
)

// poison is what every output buffer holds before a run, so an element a
// shader forgot to write fails the comparison.
var poison = float32(math.NaN())

type harness struct {
	t    testing.TB
	k    *Kernels
	sets *vk.Sets
	bufs []*vk.Buffer
}

func newHarness(t testing.TB, wg uint32, subgroups bool) *harness {
	d := vktest.Device(t)
	k := New(d)
	k.WG, k.AttentionWG, k.Subgroups = wg, wg, subgroups
	h := &harness{t: t, k: k, sets: d.NewSets()}
	t.Cleanup(func() {
		h.sets.Close()
		for _, b := range h.bufs {
			b.Close()
		}
		k.Close()
	})
	return h
}

func (h *harness) floats(x []float32) *vk.Buffer {
	h.t.Helper()
	b, err := h.k.Dev.NewBuffer(uint64(4*max(len(x), 1)), vk.DeviceLocal)
	if err != nil {
		h.t.Fatal(err)
	}
	h.bufs = append(h.bufs, b)
	h.write(b, x)
	return b
}

func (h *harness) write(b *vk.Buffer, x []float32) {
	h.t.Helper()
	raw := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	if err := b.Write(0, raw); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) poisoned(n int) *vk.Buffer {
	x := make([]float32, n)
	for i := range x {
		x[i] = poison
	}
	return h.floats(x)
}

func (h *harness) read(b *vk.Buffer, n int) []float32 {
	h.t.Helper()
	raw := make([]byte, 4*n)
	if err := b.Read(0, raw); err != nil {
		h.t.Fatal(err)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func (h *harness) run(record func(s *vk.Step)) {
	h.t.Helper()
	s, err := h.k.Dev.NewStep()
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	if err := s.Begin(); err != nil {
		h.t.Fatal(err)
	}
	record(s)
	if err := s.Submit(); err != nil {
		h.t.Fatal(err)
	}
}

func randFloats(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (r.Float32()*2 - 1) * scale
		if x[i] == 0 {
			x[i] = scale / 3
		}
	}
	return x
}

// f16Fields is where a block's f16 scale fields sit, for the types that
// keep them elsewhere than at bytes 0 and 2 (scale, and min or offset).
var f16Fields = map[gguf.Type][]int{gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}}

// randomWeights returns rows x cols weights of type t in GGUF layout:
// quantized from random floats where package quant can, else random
// blocks with sane f16 scales.
func randomWeights(t testing.TB, r *rand.Rand, typ gguf.Type, rows, cols int) []byte {
	t.Helper()
	if data, err := quant.Quantize(typ, randFloats(r, rows*cols, 1)); err == nil {
		return data
	}
	rowBytes, err := typ.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, rows*rowBytes)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	bs := typ.TypeSize()
	fields, ok := f16Fields[typ]
	if !ok {
		fields = []int{0, 2}
	}
	for b := 0; b+bs <= len(data); b += bs {
		binary.LittleEndian.PutUint16(data[b+fields[0]:], quant.F32ToF16(0.01+r.Float32()*0.05))
		if len(fields) > 1 {
			binary.LittleEndian.PutUint16(data[b+fields[1]:], quant.F32ToF16(r.Float32()*0.05))
		}
	}
	return data
}

func TestMatVec(t *testing.T) {
	types := []struct {
		typ  gguf.Type
		cols int
	}{
		{gguf.TypeF32, 67}, {gguf.TypeF32, 68}, {gguf.TypeF16, 67}, {gguf.TypeF16, 96}, {gguf.TypeBF16, 45}, {gguf.TypeBF16, 48},
		{gguf.TypeQ8_0, 224}, {gguf.TypeQ4_0, 224}, {gguf.TypeQ4_1, 96}, {gguf.TypeQ5_0, 160}, {gguf.TypeQ5_1, 96},
		{gguf.TypeQ4_K, 512}, {gguf.TypeQ5_K, 256}, {gguf.TypeQ6_K, 768}, {gguf.TypeQ2_K, 512}, {gguf.TypeQ3_K, 768},
		{gguf.TypeIQ4_NL, 160}, {gguf.TypeIQ4_XS, 512},
	}
	// Every reduction path: whole rows per invocation, rows split over a
	// subgroup, rows split over a workgroup with a shared-memory tree. The
	// first two share pipelines; the reductions do not depend on the type,
	// so the third (a pipeline build per type) runs on a few types.
	paths := []struct {
		wg         uint32
		sub, short bool
		types      map[gguf.Type]bool // nil: all
	}{
		{64, true, true, nil},
		{64, true, false, nil},
		{32, false, false, map[gguf.Type]bool{gguf.TypeF32: true, gguf.TypeQ8_0: true, gguf.TypeQ4_K: true}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	var h *harness
	for i, path := range paths {
		if i == 0 || path.wg != paths[i-1].wg || path.sub != paths[i-1].sub {
			h = newHarness(t, path.wg, path.sub)
		}
		if path.sub && !h.k.Dev.Info.SubgroupOps {
			continue
		}
		for _, tc := range types {
			if path.types != nil && !path.types[tc.typ] {
				continue
			}
			// 32 and 33 take two and three passes of the shader's 16 inputs.
			// One input over whole rows takes them two and four at a time
			// where a workgroup has that many, and a batch two (laneRows).
			for _, shape := range []struct{ n, rows int }{{1, 37}, {11, 37}, {32, 37}, {33, 37}, {1, 300}, {1, 700}, {11, 300}} {
				n, rows := shape.n, shape.rows
				if rows != 37 && !path.short {
					continue
				}
				name := fmt.Sprintf("%s/cols%d/n%d/rows%d/wg%d/subgroups=%v/short=%v", tc.typ, tc.cols, n, rows, path.wg, path.sub, path.short)
				wdata := randomWeights(t, r, tc.typ, rows, tc.cols)
				w, err := h.k.Upload(name, tc.typ, rows, tc.cols, wdata)
				if err != nil {
					t.Fatal(err)
				}
				x := randFloats(r, n*tc.cols, 1)
				bias := randFloats(r, rows, 0.5)
				xb, yb, bb := h.floats(x), h.poisoned(n*rows+5), h.floats(bias)
				mv, err := h.k.BindMatVec(h.sets, w, xb.All(), yb.All(), bb.All())
				if err != nil {
					t.Fatal(err)
				}
				mv.short = path.short
				h.run(func(s *vk.Step) { mv.Record(h.k, s, n, tc.cols, rows, 5, false) })
				got := h.read(yb, n*rows+5)
				deq := make([]float32, rows*tc.cols)
				if err := quant.Dequantize(tc.typ, wdata, deq); err != nil {
					t.Fatal(err)
				}
				for b := range n {
					for row := range rows {
						var want, mag float64
						for i := range tc.cols {
							p := float64(deq[row*tc.cols+i]) * float64(x[b*tc.cols+i])
							want += p
							mag += math.Abs(p)
						}
						want += float64(bias[row])
						g := got[5+b*rows+row]
						if e := math.Abs(float64(g) - want); !(e <= matvecTol*mag*math.Sqrt(float64(tc.cols))+1e-7) {
							t.Fatalf("%s: y[%d][%d] = %v, want %v (|w*x| sum %v)", name, b, row, g, want, mag)
						}
					}
				}
				if rows != 37 {
					// Rows taken several at a time sum as one input alone
					// and in a batch sum them: input 0 again, in the other
					// of the two (two copies when it was alone).
					x0 := x[:tc.cols]
					other := slices.Clone(x0)
					if n == 1 {
						other = append(other, x0...)
					}
					m := len(other) / tc.cols
					xb2, yb2 := h.floats(other), h.poisoned(m*rows)
					mv2, err := h.k.BindMatVec(h.sets, w, xb2.All(), yb2.All(), bb.All())
					if err != nil {
						t.Fatal(err)
					}
					mv2.short = path.short
					h.run(func(s *vk.Step) { mv2.Record(h.k, s, m, tc.cols, rows, 0, false) })
					again := h.read(yb2, m*rows)
					for b := range m {
						for row := range rows {
							if got[5+row] != again[b*rows+row] {
								t.Fatalf("%s: y[0][%d] = %v, %v with %d inputs", name, row, got[5+row], again[b*rows+row], m)
							}
						}
					}
				}
				w.Close()
			}
		}
	}
}

// TestMatVecChunks splits a weight into row ranges, as for tensors larger
// than the device's storage-buffer range, and accumulates into y.
func TestMatVecChunks(t *testing.T) {
	h := newHarness(t, 64, false)
	saved := h.k.Dev.Info.MaxStorageBufferRange
	const rows, cols = 300, 256
	r := rand.New(rand.NewPCG(3, 4))
	wdata := randomWeights(t, r, gguf.TypeQ8_0, rows, cols)
	h.k.Dev.Info.MaxStorageBufferRange = 100 * 272 // 100 rows of 272 bytes per chunk, rounded down to 64
	w, err := h.k.Upload("chunked", gguf.TypeQ8_0, rows, cols, wdata)
	h.k.Dev.Info.MaxStorageBufferRange = saved
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(w.Chunks) != 5 {
		t.Fatalf("%d chunks, want 5 of 64 rows", len(w.Chunks))
	}
	x := randFloats(r, cols, 1)
	y0 := randFloats(r, rows, 1)
	xb, yb := h.floats(x), h.floats(y0)
	mv, err := h.k.BindMatVec(h.sets, w, xb.All(), yb.All(), vk.Range{})
	if err != nil {
		t.Fatal(err)
	}
	h.run(func(s *vk.Step) { mv.Record(h.k, s, 1, cols, rows, 0, true) })
	got := h.read(yb, rows)
	deq := make([]float32, rows*cols)
	if err := quant.Dequantize(gguf.TypeQ8_0, wdata, deq); err != nil {
		t.Fatal(err)
	}
	for row := range rows {
		want, mag := float64(y0[row]), math.Abs(float64(y0[row]))
		for i := range cols {
			p := float64(deq[row*cols+i]) * float64(x[i])
			want += p
			mag += math.Abs(p)
		}
		if e := math.Abs(float64(got[row]) - want); e > matvecTol*mag*16 {
			t.Fatalf("row %d: %v, want %v", row, got[row], want)
		}
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

func compare(t *testing.T, name string, got, want []float32) {
	t.Helper()
	scale := max(maxAbs(want), 1e-30)
	for i := range want {
		if e := math.Abs(float64(got[i] - want[i])); !(e <= elemTol*scale) {
			t.Fatalf("%s: [%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sub := range []bool{true, false} {
		h := newHarness(t, 64, sub)
		for _, cols := range []int{64, 288, 1000} {
			const rows = 3
			x := randFloats(r, rows*cols, 2)
			w := randFloats(r, cols, 1)
			xb, wb, ob := h.floats(x), h.floats(w), h.poisoned(rows*cols+7)
			op, err := h.k.BindRMSNorm(h.sets, xb.All(), wb.All(), ob.All())
			if err != nil {
				t.Fatal(err)
			}
			const eps = 1e-5
			h.run(func(s *vk.Step) { op.Record(s, rows, cols, 0, 7, eps) })
			want := make([]float32, rows*cols)
			for row := range rows {
				var ss float64
				for _, v := range x[row*cols : (row+1)*cols] {
					ss += float64(v) * float64(v)
				}
				scale := 1 / math.Sqrt(ss/float64(cols)+eps)
				for i := range cols {
					want[row*cols+i] = float32(float64(x[row*cols+i]) * scale * float64(w[i]))
				}
			}
			compare(t, fmt.Sprintf("rms_norm cols %d subgroups %v", cols, sub), h.read(ob, rows*cols+7)[7:], want)
		}
	}
}

func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, sub := range []bool{true, false} {
		h := newHarness(t, 64, sub)
		for _, cols := range []int{384, 100} {
			const rows = 5
			x := randFloats(r, rows*cols, 3)
			for i := range x {
				x[i] += 2 // a mean far from zero
			}
			w, bias := randFloats(r, cols, 1), randFloats(r, cols, 0.5)
			xb := h.floats(x)
			op, err := h.k.BindLayerNorm(h.sets, xb.All(), h.floats(w).All(), h.floats(bias).All(), xb.All())
			if err != nil {
				t.Fatal(err)
			}
			const eps = 1e-12
			h.run(func(s *vk.Step) { op.Record(s, rows, cols, eps) })
			want := make([]float32, rows*cols)
			for row := range rows {
				var sum, sq float64
				for _, v := range x[row*cols : (row+1)*cols] {
					sum += float64(v)
				}
				mean := sum / float64(cols)
				for _, v := range x[row*cols : (row+1)*cols] {
					sq += (float64(v) - mean) * (float64(v) - mean)
				}
				inv := 1 / math.Sqrt(sq/float64(cols)+eps)
				for i := range cols {
					want[row*cols+i] = float32((float64(x[row*cols+i])-mean)*inv*float64(w[i]) + float64(bias[i]))
				}
			}
			compare(t, fmt.Sprintf("layer_norm cols %d subgroups %v", cols, sub), h.read(xb, rows*cols), want)
		}
	}
}

func TestRope(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h := newHarness(t, 64, true)
	for _, tc := range []struct {
		heads, headDim, ropeDim int
		neox                    bool
	}{{6, 48, 48, false}, {4, 64, 64, true}, {2, 128, 64, true}} {
		const n, pos0, base = 3, 17, 10000.0
		stride := tc.heads*tc.headDim + 5
		x := randFloats(r, 2+n*stride, 1)
		freq := make([]float32, tc.ropeDim/2)
		for i := range freq {
			freq[i] = float32(math.Pow(base, -2*float64(i)/float64(tc.ropeDim)))
		}
		xb, fb := h.floats(x), h.floats(freq)
		op, err := h.k.BindRope(h.sets, xb.All(), fb.All())
		if err != nil {
			t.Fatal(err)
		}
		h.run(func(s *vk.Step) { op.Record(s, n, tc.heads, tc.headDim, tc.ropeDim, tc.neox, pos0, 2, stride) })
		want := append([]float32(nil), x...)
		for b := range n {
			for hd := range tc.heads {
				head := want[2+b*stride+hd*tc.headDim:]
				for i := range tc.ropeDim / 2 {
					theta := float64(pos0+b) * float64(freq[i])
					j, k := 2*i, 2*i+1
					if tc.neox {
						j, k = i, i+tc.ropeDim/2
					}
					a, e := float64(head[j]), float64(head[k])
					head[j] = float32(a*math.Cos(theta) - e*math.Sin(theta))
					head[k] = float32(a*math.Sin(theta) + e*math.Cos(theta))
				}
			}
		}
		compare(t, fmt.Sprintf("rope %+v", tc), h.read(xb, len(x)), want)
	}
}

// round16 is x rounded to f16 (nearest even), as a float32.
func round16(x float32) float32 { return quant.F16ToF32(quant.F32ToF16(x)) }

// quantizeRef is package kernels' rounding of a matrix product's input
// (quantizeQ8 with the AVX2 path's halves to even and the f16 scale,
// quantizeQ8K, roundBF16), as the value q·d each element stands for.
func quantizeRef(r Rounding, x []float32) []float32 {
	out := make([]float32, len(x))
	bs := r.block()
	for b := 0; b < len(x); b += bs {
		blk := x[b : b+bs]
		switch r {
		case RoundQ8_0:
			var amax float32
			for _, v := range blk {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			for i, v := range blk {
				out[b+i] = float32(math.RoundToEven(float64(v*id))) * round16(d)
			}
		case RoundQ8_K:
			var amax, m float32
			for _, v := range blk {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, m = a, v
				}
			}
			var iscale, d float32
			if amax != 0 {
				iscale = -127 / m
				d = 1 / iscale
			}
			for i, v := range blk {
				out[b+i] = float32(min(math.RoundToEven(float64(iscale*v)), 127)) * d
			}
		case RoundBF16:
			u := math.Float32bits(blk[0])
			out[b] = math.Float32frombits((u + 0x7fff + (u>>16)&1) &^ 0xffff)
		}
	}
	return out
}

// TestQuantize holds each rounding to quantizeRef bit for bit: widths of
// whole blocks (Q8_0 rows that are not whole Q8_K blocks among them),
// inputs padded apart, a zero block, and blocks whose scaled values fall
// on halves (ties go to even) or whose largest magnitude is negative.
func TestQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	h := newHarness(t, 64, true)
	for _, tc := range []struct {
		r    Rounding
		cols int
	}{{RoundQ8_0, 32}, {RoundQ8_0, 96}, {RoundQ8_0, 320}, {RoundQ8_K, 256}, {RoundQ8_K, 768}, {RoundBF16, 45}, {RoundBF16, 1000}} {
		const n, pad = 3, 7
		stride := tc.cols + pad
		x := randFloats(r, n*stride, 3)
		bs := tc.r.block()
		if bs > 1 {
			clear(x[:bs]) // input 0, block 0: all zero
			// Input 1, block 0: largest magnitude 127, negative, so the
			// scale is 1 (Q8_0) or -1 (Q8_K) and these land on halves.
			blk := x[stride : stride+bs]
			blk[0], blk[1], blk[2], blk[3] = -127, 2.5, -3.5, 0.5
		}
		xb, ob := h.floats(x), h.poisoned(n*stride)
		op, err := h.k.BindQuantize(h.sets, xb.All(), ob.All())
		if err != nil {
			t.Fatal(err)
		}
		h.run(func(s *vk.Step) { op.Record(s, tc.r, n, tc.cols, stride) })
		got := h.read(ob, n*stride)
		for b := range n {
			want := quantizeRef(tc.r, x[b*stride:b*stride+tc.cols])
			for i, w := range want {
				if g := got[b*stride+i]; math.Float32bits(g) != math.Float32bits(w) && !(g == 0 && w == 0) {
					t.Fatalf("rounding %d cols %d: input %d [%d] = %v (x %v), want %v", tc.r, tc.cols, b, i, g, x[b*stride+i], w)
				}
			}
		}
	}
}

// TestInputs multiplies one input by weights of three roundings (none,
// Q8_0, Q8_K) bound through one Input: each product takes its own rounded
// copy, within matvecTol of a float64 product with quantizeRef's input.
// IQ4_NL and IQ4_XS take theirs (Q8_0, Q8_K) from quant's traits.
func TestInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	h := newHarness(t, 64, true)
	const n, rows, cols = 5, 33, 512
	inputs := h.k.NewInputs(h.sets, n*cols)
	defer inputs.Close()
	x := randFloats(r, n*cols, 2)
	in := inputs.Input(h.floats(x).All())
	types := []gguf.Type{gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeIQ4_NL, gguf.TypeIQ4_XS}
	if RoundingFor(gguf.TypeIQ4_NL) != RoundQ8_0 || RoundingFor(gguf.TypeIQ4_XS) != RoundQ8_K {
		t.Fatalf("IQ4_NL, IQ4_XS round to %d, %d; want Q8_0, Q8_K", RoundingFor(gguf.TypeIQ4_NL), RoundingFor(gguf.TypeIQ4_XS))
	}
	var mvs []*MatVec
	var outs []*vk.Buffer
	var wdata [][]byte
	for _, typ := range types {
		data := randomWeights(t, r, typ, rows, cols)
		w, err := h.k.Upload(typ.String(), typ, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		y := h.poisoned(n * rows)
		mv, err := in.BindMatVec(w, y.All(), vk.Range{})
		if err != nil {
			t.Fatal(err)
		}
		mvs, outs, wdata = append(mvs, mv), append(outs, y), append(wdata, data)
	}
	h.run(func(s *vk.Step) {
		in.Record(s, n, cols)
		for _, mv := range mvs {
			mv.Record(h.k, s, n, cols, rows, 0, false)
		}
	})
	for j, typ := range types {
		deq := make([]float32, rows*cols)
		if err := quant.Dequantize(typ, wdata[j], deq); err != nil {
			t.Fatal(err)
		}
		got := h.read(outs[j], n*rows)
		for b := range n {
			xr := x[b*cols : (b+1)*cols]
			if rd := RoundingFor(typ); rd != RoundNone {
				xr = quantizeRef(rd, xr)
			}
			for row := range rows {
				var want, mag float64
				for i := range cols {
					p := float64(deq[row*cols+i]) * float64(xr[i])
					want += p
					mag += math.Abs(p)
				}
				if e := math.Abs(float64(got[b*rows+row]) - want); !(e <= matvecTol*mag*math.Sqrt(cols)) {
					t.Fatalf("%s: y[%d][%d] = %v, want %v", typ, b, row, got[b*rows+row], want)
				}
			}
		}
	}
}

func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	h := newHarness(t, 64, true)
	const n = 1000
	for _, shader := range []string{"silu_mul", "add", "gelu"} {
		a, b := randFloats(r, n+3, 4), randFloats(r, n, 1)
		ab, bb := h.floats(a), h.floats(b)
		op, err := h.k.BindElementwise(h.sets, shader, ab.All(), bb.All())
		if err != nil {
			t.Fatal(err)
		}
		h.run(func(s *vk.Step) { op.Record(s, n) })
		want := append([]float32(nil), a...)
		for i := range n {
			switch shader {
			case "add":
				want[i] += b[i]
			case "gelu":
				want[i] = kernels.GELURef(a[i]) // ggml's f16-table GELU, as the CPU
			default:
				g := float64(a[i])
				want[i] = float32(g / (1 + math.Exp(-g)) * float64(b[i]))
			}
		}
		compare(t, shader, h.read(ab, n+3), want) // the 3 past count stay untouched
	}
	if _, err := h.k.BindElementwise(h.sets, "matvec", vk.Range{}, vk.Range{}); err == nil {
		t.Error("matvec accepted as an elementwise op")
	}
}

func TestGetRows(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	h := newHarness(t, 64, true)
	for _, tc := range []struct {
		typ  gguf.Type
		cols int
	}{{gguf.TypeF32, 70}, {gguf.TypeF16, 64}, {gguf.TypeQ8_0, 96}, {gguf.TypeQ4_0, 64}, {gguf.TypeQ5_0, 64}, {gguf.TypeQ4_K, 256}, {gguf.TypeQ6_K, 256}, {gguf.TypeQ2_K, 256}, {gguf.TypeQ3_K, 512},
		{gguf.TypeIQ4_NL, 64}, {gguf.TypeIQ4_XS, 256}} {
		const rows = 200
		wdata := randomWeights(t, r, tc.typ, rows, tc.cols)
		saved := h.k.Dev.Info.MaxStorageBufferRange
		h.k.Dev.Info.MaxStorageBufferRange = uint64(len(wdata) / 2) // two chunks
		w, err := h.k.Upload("table", tc.typ, rows, tc.cols, wdata)
		h.k.Dev.Info.MaxStorageBufferRange = saved
		if err != nil {
			t.Fatal(err)
		}
		ids := []int32{0, 199, 64, 65, 3, 130}
		raw := make([]float32, len(ids))
		for i, id := range ids {
			raw[i] = math.Float32frombits(uint32(id))
		}
		ib, ob := h.floats(raw), h.poisoned(len(ids)*tc.cols)
		op, err := h.k.BindGetRows(h.sets, w, ib.All(), ob.All())
		if err != nil {
			t.Fatal(err)
		}
		h.run(func(s *vk.Step) { op.Record(s, len(ids), tc.cols) })
		deq := make([]float32, rows*tc.cols)
		if err := quant.Dequantize(tc.typ, wdata, deq); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, 0, len(ids)*tc.cols)
		for _, id := range ids {
			want = append(want, deq[int(id)*tc.cols:(int(id)+1)*tc.cols]...)
		}
		got := h.read(ob, len(want))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: element %d = %v, want %v (exact)", tc.typ, i, got[i], want[i])
			}
		}
		w.Close()
	}
}

// BenchmarkMatVec times one matrix-vector product (ten per submit, so the
// submit is amortised) with whole rows per invocation (short) and rows
// split over a subgroup.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		typ        gguf.Type
		rows, cols int
	}{{gguf.TypeF16, 32000, 8}, {gguf.TypeF32, 512, 64}, {gguf.TypeF32, 64, 64}, {gguf.TypeQ8_0, 768, 288}, {gguf.TypeQ8_0, 2048, 2048}, {gguf.TypeQ4_K, 2048, 2048}} {
		for _, short := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/%dx%d/short=%v", tc.typ, tc.rows, tc.cols, short), func(b *testing.B) {
				d := vktest.Device(b)
				k := New(d)
				defer k.Close()
				sets := d.NewSets()
				defer sets.Close()
				data, err := quant.Quantize(tc.typ, randFloats(r, tc.rows*tc.cols, 1))
				if err != nil {
					b.Fatal(err)
				}
				w, err := k.Upload("bench", tc.typ, tc.rows, tc.cols, data)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				xb, err := d.NewBuffer(uint64(4*tc.cols), vk.DeviceLocal)
				if err != nil {
					b.Fatal(err)
				}
				yb, err := d.NewBuffer(uint64(4*tc.rows), vk.DeviceLocal)
				if err != nil {
					b.Fatal(err)
				}
				defer xb.Close()
				defer yb.Close()
				mv, err := k.BindMatVec(sets, w, xb.All(), yb.All(), vk.Range{})
				if err != nil {
					b.Fatal(err)
				}
				mv.short = short
				s, err := d.NewStep()
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := s.Begin(); err != nil {
						b.Fatal(err)
					}
					for range 10 {
						mv.Record(k, s, 1, tc.cols, tc.rows, 0, false)
					}
					if err := s.Submit(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*10), "µs/matvec")
			})
		}
	}
}
