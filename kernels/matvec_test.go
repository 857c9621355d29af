package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()) + 0.05 // never zero
	}
	return v
}

// weights returns a random rows×cols matrix of type t and its exact f32
// values (dequantized).
func weights(t testing.TB, rng *rand.Rand, typ gguf.Type, rows, cols int) ([]byte, []float32) {
	src := randVec(rng, rows*cols)
	var w []byte
	switch {
	case typ == gguf.TypeF32:
		w = make([]byte, 4*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(v))
		}
	case quant.CanQuantize(typ):
		var err error
		if w, err = quant.Quantize(typ, src); err != nil {
			t.Fatal(err)
		}
	default:
		w = randomBlocks(t, rng, typ, rows*cols)
	}
	exact := make([]float32, rows*cols)
	if err := quant.Dequantize(typ, w, exact); err != nil {
		t.Fatal(err)
	}
	return w, exact
}

// f16Fields is where a block's f16 scale fields sit, for the types that
// keep them elsewhere than at bytes 0 and 2 (scale, and min or offset).
var f16Fields = map[gguf.Type][]int{gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}}

// randomBlocks returns n elements of a type quant cannot quantize to
// (Q4_1, Q5_1, Q5_K, Q2_K, Q3_K, IQ4_NL, IQ4_XS): random bytes, with
// each block's f16 fields (f16Fields) set to sane small values (for the
// IQ4 types the second is codes or sub-block scale bits, which any value
// serves).
func randomBlocks(t testing.TB, rng *rand.Rand, typ gguf.Type, n int) []byte {
	size, err := typ.RowBytes(typ.BlockSize())
	if err != nil {
		t.Fatal(err)
	}
	w := make([]byte, n/typ.BlockSize()*size)
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	fields, ok := f16Fields[typ]
	if !ok {
		fields = []int{0, 2}
	}
	for b := 0; b < len(w); b += size {
		binary.LittleEndian.PutUint16(w[b+fields[0]:], quant.F32ToF16(0.002+rng.Float32()*0.01))
		if len(fields) > 1 {
			binary.LittleEndian.PutUint16(w[b+fields[1]:], quant.F32ToF16(rng.Float32()*0.01))
		}
	}
	return w
}

// relErr is the RMS difference of got and want relative to want's RMS.
func relErr(got, want []float64) float64 {
	var num, den float64
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

func asF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// matvecBounds is each type's allowed error from rounding the input,
// relative to Σ|w·x| (the scale of a dot product's rounding), as the RMS
// over a case's rows: F32 sums in another order, as do Q4_1 and Q5_1
// (dequantized to f32 rows, then a float dot); F16/BF16 round the input
// to 11/8 significant bits; the other quantized types quantize it to
// 8-bit blocks. The RMS, not each row's error, is bounded because this
// error is noise that averages down over a row: a row of 7 or 32 inputs
// has a few rows in a hundred beyond these bounds, whatever the kernel.
// Each row is held to the kernel's own arithmetic by sumBound instead.
var matvecBounds = map[gguf.Type]float64{
	gguf.TypeF32: 1e-6, gguf.TypeQ4_1: 1e-6, gguf.TypeQ5_1: 1e-6,
	gguf.TypeF16: 2e-4, gguf.TypeBF16: 2e-3,
	gguf.TypeQ8_0: 4e-3, gguf.TypeQ4_0: 4e-3, gguf.TypeQ5_0: 4e-3, gguf.TypeQ4_K: 4e-3, gguf.TypeQ5_K: 4e-3, gguf.TypeQ6_K: 4e-3,
	gguf.TypeQ2_K: 4e-3, gguf.TypeQ3_K: 4e-3,
	gguf.TypeIQ4_NL: 4e-3, gguf.TypeIQ4_XS: 4e-3,
}

// sumBound is each row's allowed error against the float64 product of
// the exact weights and the input as the kernel set rounds it, relative
// to Σ|w·x| of that product: what is left is float32 rounding of scales
// and of the sums, in whatever order a kernel takes them (at most 2.4e-7
// in these cases, for F32 rows of 4864).
const sumBound = 2e-6

// matvecTypes is every weight type MatVec multiplies: those with kernels
// of their own, and Q4_1/Q5_1 through the dequantize-a-row path.
var matvecTypes = []gguf.Type{
	gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0,
	gguf.TypeQ4_1, gguf.TypeQ5_1, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K,
	gguf.TypeQ2_K, gguf.TypeQ3_K,
	gguf.TypeIQ4_NL, gguf.TypeIQ4_XS,
}

// matvecWidths are the row widths each block size is tested at. Blocks
// of 32 go eight to a group in the legacy and VNNI kernels: 32, 96 and
// 288 (bench-15m's width) leave a group partly filled, 896 ends in half a
// group, 4864 fills 19. Float rows add widths off the 8- and 4-wide
// vector steps (7, 100). K-quant rows are whole 256-element super-blocks.
var matvecWidths = map[int][]int{
	1:   {7, 32, 96, 100, 288, 896, 4864},
	32:  {32, 96, 288, 896, 4864},
	256: {256, 512, 768, 4864},
}

// maxBatch is the most inputs a case has: DoBatch is tested with 1 to 9,
// which covers no, one and two four-input steps with 0 to 3 left over.
const maxBatch = 9

// mvCase is a weight matrix and maxBatch inputs with their float64
// products, from the exact weights and the unrounded inputs.
type mvCase struct {
	typ         gguf.Type
	rows, cols  int
	w           []byte
	exact       []float32 // w dequantized
	xs          [][]float32
	want, scale [][]float64 // per input and row: Σ w·x and Σ|w·x|
}

func (c *mvCase) String() string { return fmt.Sprintf("%s_%dx%d", c.typ, c.rows, c.cols) }

// check holds y, set v's output for input b, to c's type's bounds: the
// RMS error from rounding the input against the unrounded product
// (matvecBounds), and each row's error against the product with the
// input as v rounds it (sumBound).
func (c *mvCase) check(t *testing.T, v isa, y []float32, b int, what string) {
	t.Helper()
	var ss float64
	for r := range c.rows {
		e := (float64(y[r]) - c.want[b][r]) / c.scale[b][r]
		ss += e * e
	}
	if rms, bound := math.Sqrt(ss/float64(c.rows)), matvecBounds[c.typ]; !(rms <= bound) {
		t.Errorf("%s: input %d: RMS error %.3g of Σ|w·x| > %.3g", what, b, rms, bound)
	}
	x := c.rounded(v, b)
	for r := range c.rows {
		var want, scale float64
		for i, xv := range x {
			p := float64(c.exact[r*c.cols+i]) * xv
			want += p
			scale += math.Abs(p)
		}
		if e := math.Abs(float64(y[r])-want) / scale; !(e <= sumBound) {
			t.Errorf("%s: input %d row %d: %v, want %v for the rounded input: error %.3g of Σ|w·x| > %.3g", what, b, r, y[r], want, e, sumBound)
			return
		}
	}
}

// rounded returns input b as set v's kernels multiply it: quantized to
// 8-bit blocks for the quantized types (exactly, in float64), rounded to
// 16 bits for F16/BF16, as given for the rest.
func (c *mvCase) rounded(v isa, b int) []float64 {
	x := c.xs[b]
	out := make([]float64, c.cols)
	switch {
	case quantized(c.typ):
		nb := c.cols / quant.QK
		q, d, s := make([]int8, c.cols), make([]float32, nb), make([]int32, nb)
		if c.typ.BlockSize() == quant.QK_K {
			quantizeQ8K(v, x, q, d, s)
		} else {
			quantize(v, x, q, d, s)
		}
		if activations(c.typ) == quant.ActQ8_0 {
			for i := range d {
				d[i] = quant.F16ToF32(quant.F32ToF16(d[i]))
			}
		}
		for i := range out {
			out[i] = float64(q[i]) * float64(d[i/quant.QK])
		}
		return out
	case c.typ == gguf.TypeBF16:
		r := make([]float32, c.cols)
		roundBF16(x, r)
		x = r
	}
	for i, xv := range x {
		out[i] = float64(xv)
	}
	return out
}

// mvCases holds matvecCases' cases once built (tests run one at a time).
var mvCases []*mvCase

// matvecCases builds, on first use, a case per type and width (37 rows:
// an odd count, more than a tile of the widest rows) and one per type of
// 700 rows of 512, which a call splits over workers.
func matvecCases(t *testing.T) []*mvCase {
	if mvCases != nil {
		return mvCases
	}
	rng := rand.New(rand.NewPCG(7, 9))
	var cases []*mvCase
	for _, typ := range matvecTypes {
		for _, cols := range matvecWidths[typ.BlockSize()] {
			cases = append(cases, newCase(t, rng, typ, 37, cols))
		}
		cases = append(cases, newCase(t, rng, typ, 700, 512))
	}
	mvCases = cases
	return cases
}

func newCase(t *testing.T, rng *rand.Rand, typ gguf.Type, rows, cols int) *mvCase {
	c := &mvCase{typ: typ, rows: rows, cols: cols}
	c.w, c.exact = weights(t, rng, typ, rows, cols)
	for range maxBatch {
		x := randVec(rng, cols)
		want, scale := make([]float64, rows), make([]float64, rows)
		for r := range rows {
			for i, xv := range x {
				p := float64(c.exact[r*cols+i]) * float64(xv)
				want[r] += p
				scale[r] += math.Abs(p)
			}
		}
		c.xs, c.want, c.scale = append(c.xs, x), append(c.want, want), append(c.scale, scale)
	}
	return c
}

func poisoned(n int) []float32 {
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(math.NaN())
	}
	return y
}

// TestMatVec runs Do for every type, width and kernel set against the
// float64 product (matvecBounds). The C kernels form the Go ones'
// integer products (for floats, the same products) and sum them in
// another order, so they also stay within 1e-5 (relative RMS) of the Go
// set; the vnni and bf16 sets equal the avx2 set's bit for bit, but for
// BF16 weights (vdpbf16ps sums in pairs, in an order of its own).
func TestMatVec(t *testing.T) {
	for _, c := range matvecCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			got := map[isa][][]float32{}
			forEachISA(t, func(t *testing.T, v isa) {
				m := &MatVec{}
				for b, x := range c.xs {
					y := poisoned(c.rows)
					if err := m.Do(c.typ, c.w, c.rows, c.cols, x, y); err != nil {
						t.Fatal(err)
					}
					c.check(t, v, y, b, "Do")
					got[v] = append(got[v], y)
				}
				if ref, ok := got[isaGo]; ok && v >= isaAVX2 {
					for b := range c.xs {
						if e := relErr(asF64(got[v][b]), asF64(ref[b])); !(e <= 1e-5) {
							t.Errorf("input %d: relative error %.3g from the Go kernels", b, e)
						}
					}
				}
				// The AVX-512 sets do the AVX2 kernels' float arithmetic on
				// the same exact integer dots, but for BF16 (vdpbf16ps).
				if ref, ok := got[isaAVX2]; ok && v >= isaVNNI && c.typ != gguf.TypeBF16 {
					for b := range c.xs {
						if !slices.Equal(got[v][b], ref[b]) {
							t.Errorf("input %d: differs from the avx2 kernels'", b)
						}
					}
				}
			})
		})
	}
}

// TestDoBatchEqualsDo: a batch of 1 to 9 inputs gives each input exactly
// what Do gives it alone (and so stays within the type's bound), for every
// type, width and kernel set.
func TestDoBatchEqualsDo(t *testing.T) {
	for _, c := range matvecCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			forEachISA(t, func(t *testing.T, v isa) {
				m := &MatVec{}
				one := make([][]float32, len(c.xs))
				for b, x := range c.xs {
					one[b] = poisoned(c.rows)
					if err := m.Do(c.typ, c.w, c.rows, c.cols, x, one[b]); err != nil {
						t.Fatal(err)
					}
				}
				for n := 1; n <= maxBatch; n++ {
					ys := make([][]float32, n)
					for b := range ys {
						ys[b] = poisoned(c.rows)
					}
					if err := m.DoBatch(c.typ, c.w, c.rows, c.cols, c.xs[:n], ys); err != nil {
						t.Fatal(err)
					}
					for b, y := range ys {
						c.check(t, v, y, b, fmt.Sprintf("DoBatch of %d", n))
						if !slices.Equal(y, one[b]) {
							t.Errorf("DoBatch of %d: input %d differs from Do", n, b)
						}
					}
				}
			})
		})
	}
}

// TestPortableOption: MatVec.Portable runs the Go kernels whatever set is
// active, as callers that want the reference rely on.
func TestPortableOption(t *testing.T) {
	cases := matvecCases(t)
	ref := make([][]float32, len(cases)) // the Go set's outputs; its subtest runs first
	forEachISA(t, func(t *testing.T, v isa) {
		for i, c := range cases {
			if v == isaGo {
				ref[i] = poisoned(c.rows)
				if err := (&MatVec{}).Do(c.typ, c.w, c.rows, c.cols, c.xs[0], ref[i]); err != nil {
					t.Fatal(err)
				}
			}
			y := poisoned(c.rows)
			if err := (&MatVec{Portable: true}).Do(c.typ, c.w, c.rows, c.cols, c.xs[0], y); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(y, ref[i]) {
				t.Errorf("%s: Portable differs from the Go kernels", c)
			}
		}
	})
}

func TestMatVecErrors(t *testing.T) {
	m := &MatVec{}
	if err := m.Do(gguf.TypeF32, make([]byte, 10), 2, 4, make([]float32, 4), make([]float32, 2)); err == nil {
		t.Error("short weights accepted")
	}
	if err := m.Do(gguf.TypeQ8_0, make([]byte, 34), 1, 33, make([]float32, 33), make([]float32, 1)); err == nil {
		t.Error("partial block accepted")
	}
	if err := m.Do(gguf.TypeIQ2_XXS, make([]byte, 66), 1, 256, make([]float32, 256), make([]float32, 1)); err == nil {
		t.Error("unsupported type accepted")
	}
}

// TestMatVecNoAllocWarm: a warm call allocates nothing, one input or a
// batch, on every kernel set.
func TestMatVecNoAllocWarm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forEachISA(t, func(t *testing.T, v isa) {
		for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ5_K, gguf.TypeQ6_K} {
			w, _ := weights(t, rng, typ, 512, 512)
			xs, ys := make([][]float32, 5), make([][]float32, 5)
			for b := range xs {
				xs[b], ys[b] = randVec(rng, 512), make([]float32, 512)
			}
			m := &MatVec{}
			m.DoBatch(typ, w, 512, 512, xs, ys)
			if a := testing.AllocsPerRun(20, func() { m.Do(typ, w, 512, 512, xs[0], ys[0]) }); a > 0 {
				t.Errorf("%s: %v allocations per warm call", typ, a)
			}
			if a := testing.AllocsPerRun(20, func() { m.DoBatch(typ, w, 512, 512, xs, ys) }); a > 0 {
				t.Errorf("%s: %v allocations per warm batch", typ, a)
			}
		}
	})
}

// BenchmarkMatVec measures one input over a 2048×2048 matrix (in cache:
// the kernels' arithmetic, not memory, sets the pace; BenchmarkDecode
// reads from memory) with each kernel set the host runs above go.
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeIQ4_NL, gguf.TypeIQ4_XS, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		const rows, cols = 2048, 2048
		w, _ := weights(b, rng, typ, rows, cols)
		x, y := randVec(rng, cols), make([]float32, rows)
		m := &MatVec{}
		benchEachISA(b, typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for i := 0; i < b.N; i++ {
				m.Do(typ, w, rows, cols, x, y)
			}
			b.ReportMetric(2*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkDoBatch measures a prompt-sized batch, where tiles of weights
// stay in cache and the kernels, not memory, set the pace.
func BenchmarkDoBatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, cols, n = 2048, 2048, 32
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		w, _ := weights(b, rng, typ, rows, cols)
		xs, ys := make([][]float32, n), make([][]float32, n)
		for i := range xs {
			xs[i], ys[i] = randVec(rng, cols), make([]float32, rows)
		}
		m := &MatVec{}
		b.Run(typ.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m.DoBatch(typ, w, rows, cols, xs, ys)
			}
			b.ReportMetric(2*rows*cols*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestQuantizeQ8 runs each kernel set's activation quantizer: scales
// exactly max|x|/127 (as the Go reference's), quants x/d rounded to
// nearest (within 0.5 of it, either tie rule; the AVX2 quantizer rounds
// halves to even, Go away from zero, so they differ by at most one step),
// and sums that match the quants. Inputs cover a zero and a block of zeros.
func TestQuantizeQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const nb = 40
	x := randVec(rng, nb*32)
	x[5] = 0
	for i := 64; i < 96; i++ {
		x[i] = 0
	}
	gq, gd, gs := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
	quantizeQ8(x, gq, gd, gs)
	forEachISA(t, func(t *testing.T, v isa) {
		q, d, s := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
		quantize(use(false), x, q, d, s)
		for b := range nb {
			var amax float32
			for _, xv := range x[b*32 : (b+1)*32] {
				amax = max(amax, float32(math.Abs(float64(xv))))
			}
			if d[b] != amax/127 || d[b] != gd[b] {
				t.Fatalf("block %d: scale %v, want %v (Go %v)", b, d[b], amax/127, gd[b])
			}
			var sum int32
			for i := b * 32; i < (b+1)*32; i++ {
				exact := 0.0
				if d[b] != 0 {
					exact = float64(x[i]) / float64(d[b])
				}
				if e := math.Abs(float64(q[i]) - exact); e > 0.5+1e-4 || q[i]-gq[i] < -1 || q[i]-gq[i] > 1 {
					t.Fatalf("element %d: %d for %.4f (Go %d)", i, q[i], exact, gq[i])
				}
				sum += int32(q[i])
			}
			if sum != s[b] {
				t.Fatalf("block %d: sum %d, quants sum to %d", b, s[b], sum)
			}
		}
	})
}

// TestRoundF16 runs each kernel set's rounding to f16 (RoundF16, for f16
// KV caches) against quant's f16 conversion, bit for bit, across normal,
// subnormal and overflowing magnitudes.
func TestRoundF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	x := make([]float32, 4099)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-36)))
	}
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = quant.F16ToF32(quant.F32ToF16(v))
	}
	forEachISA(t, func(t *testing.T, v isa) {
		got := make([]float32, len(x))
		RoundF16(x, got, false)
		for i := range x {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("x[%d] = %g: %g, want %g", i, x[i], got[i], want[i])
			}
		}
	})
}

// TestToF16: each kernel set stores the f16 bits quant.F32ToF16 gives,
// over values from f16's subnormals to past its largest (infinities),
// ties to even included.
func TestToF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	x := make([]float32, 4099)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-36)))
	}
	x = append(x, 1+1.0/2048, 1+3.0/2048, 65520, -65536, float32(math.Inf(1)), 0, float32(math.Copysign(0, -1)))
	forEachISA(t, func(t *testing.T, v isa) {
		got := make([]uint16, len(x))
		ToF16(got, x, false)
		for i, f := range x {
			if want := quant.F32ToF16(f); got[i] != want {
				t.Fatalf("x[%d] = %g: %#04x, want %#04x", i, f, got[i], want)
			}
		}
	})
}

// TestQuantizeQ8K checks ggml's Q8_K convention under every kernel set on
// a block whose largest value is 127 (so the scale is exactly -1): halves
// round to even, the sign flips into the scale, and each 32-block carries
// it and its sum; a block whose largest magnitude is negative keeps a
// positive scale, and one of zeros has scale 0. Random blocks give the Go
// set's results bit for bit.
func TestQuantizeQ8K(t *testing.T) {
	x := make([]float32, 3*quant.QK_K)
	for i := range quant.QK_K {
		x[i] = float32(i%8) + 0.5 // 0.5, 1.5, ..., 7.5
	}
	x[5] = 127
	x[quant.QK_K] = -3 // second super-block: largest is negative, scale 3/127
	rng := rand.New(rand.NewPCG(21, 22))
	random := randVec(rng, 16*quant.QK_K)
	forEachISA(t, func(t *testing.T, v isa) {
		q, d, s := make([]int8, len(x)), make([]float32, len(x)/quant.QK), make([]int32, len(x)/quant.QK)
		quantizeQ8K(v, x, q, d, s)
		for b := range 8 {
			if d[b] != -1 || d[16+b] != 0 {
				t.Fatalf("block %d scale %v, want -1; zero block's %v", b, d[b], d[16+b])
			}
		}
		wantQ := map[float32]int8{0.5: 0, 1.5: -2, 2.5: -2, 3.5: -4, 4.5: -4, 5.5: -6, 6.5: -6, 7.5: -8, 127: -127}
		for i := range quant.QK_K {
			if q[i] != wantQ[x[i]] {
				t.Fatalf("x[%d] = %v: q %d, want %d", i, x[i], q[i], wantQ[x[i]])
			}
		}
		var sum int32
		for i := range quant.QK {
			sum += int32(q[i])
		}
		if s[0] != sum {
			t.Errorf("block 0 sum %d, want %d", s[0], sum)
		}
		if want := float32(1 / (-127 / float32(-3))); d[8] != want || q[quant.QK_K] != -127 {
			t.Errorf("negative largest value: scale %v (want %v), q %d (want -127)", d[8], want, q[quant.QK_K])
		}
		rq, rd, rs := make([]int8, len(random)), make([]float32, len(random)/quant.QK), make([]int32, len(random)/quant.QK)
		quantizeQ8K(v, random, rq, rd, rs)
		gq, gd, gs := make([]int8, len(random)), make([]float32, len(random)/quant.QK), make([]int32, len(random)/quant.QK)
		quantizeQ8K(isaGo, random, gq, gd, gs)
		if !slices.Equal(rq, gq) || !slices.Equal(rd, gd) || !slices.Equal(rs, gs) {
			t.Errorf("random blocks differ from the Go set's")
		}
	})
}
