package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/quant"
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
	if typ == gguf.TypeF32 {
		w = make([]byte, 4*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(v))
		}
	} else if typ == gguf.TypeQ5_K {
		// No Q5_K quantizer: random super-blocks with sane f16 scales.
		w = make([]byte, rows*cols/256*176)
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		for b := 0; b < len(w); b += 176 {
			binary.LittleEndian.PutUint16(w[b:], quant.F32ToF16(0.002+rng.Float32()*0.01))
			binary.LittleEndian.PutUint16(w[b+2:], quant.F32ToF16(rng.Float32()*0.01))
		}
	} else {
		var err error
		if w, err = quant.Quantize(typ, src); err != nil {
			t.Fatal(err)
		}
	}
	exact := make([]float32, rows*cols)
	if err := quant.Dequantize(typ, w, exact); err != nil {
		t.Fatal(err)
	}
	return w, exact
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

// TestMatVec checks each weight type, on the Go and the SIMD kernels,
// against a float64 product of the exact weights and the unrounded input.
// Each row's error is bounded relative to Σ|w·x|, the scale of a dot
// product's rounding: F32 sums in another order; F16/BF16 round the input
// to 11/8 significant bits; Q8_0/Q4_0 quantize it to 8-bit blocks.
func TestMatVec(t *testing.T) {
	bounds := map[gguf.Type]float64{
		gguf.TypeF32: 1e-6, gguf.TypeF16: 2e-4, gguf.TypeBF16: 2e-3,
		gguf.TypeQ8_0: 4e-3, gguf.TypeQ4_0: 4e-3, gguf.TypeQ5_0: 4e-3, gguf.TypeQ4_K: 4e-3, gguf.TypeQ5_K: 4e-3, gguf.TypeQ6_K: 4e-3,
	}
	shapes := [][2]int{{1, 256}, {7, 512}, {33, 768}, {300, 256}, {1000, 2048}}
	// Rows of 32-element blocks that do not fill the legacy kernels' groups
	// of eight blocks (bench-15m's 288, a head's 96).
	partial := [][2]int{{5, 288}, {9, 96}, {3, 32}}
	rng := rand.New(rand.NewPCG(7, 9))
	for typ, bound := range bounds {
		shapes := shapes
		if typ.BlockSize() == 32 || typ.BlockSize() == 1 {
			shapes = append(shapes[:len(shapes):len(shapes)], partial...)
		}
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			w, exact := weights(t, rng, typ, rows, cols)
			x := randVec(rng, cols)
			want, scale := make([]float64, rows), make([]float64, rows)
			for r := range rows {
				for c := range cols {
					p := float64(exact[r*cols+c]) * float64(x[c])
					want[r] += p
					scale[r] += math.Abs(p)
				}
			}
			for _, portable := range []bool{true, false} {
				if !portable && !SIMD() {
					continue
				}
				y := make([]float32, rows)
				for i := range y {
					y[i] = float32(math.NaN()) // poisoned
				}
				m := &MatVec{Portable: portable}
				if err := m.Do(typ, w, rows, cols, x, y); err != nil {
					t.Fatal(err)
				}
				var worst float64
				for r := range rows {
					worst = max(worst, math.Abs(float64(y[r])-want[r])/scale[r])
				}
				if !(worst <= bound) {
					t.Errorf("%s %dx%d portable=%v: error %.3g of Σ|w·x| > %.3g", typ, rows, cols, portable, worst, bound)
				}
			}
		}
	}
}

// TestSIMDMatchesGo holds the SIMD kernels to the Go ones closely: the same
// integer products, summed in another order.
func TestSIMDMatchesGo(t *testing.T) {
	if !SIMD() {
		t.Skip("no AVX2 kernels on this machine")
	}
	for _, off := range []bool{false, true} {
		noVNNI = off
		testSIMDMatchesGo(t)
	}
	noVNNI = false
}

func testSIMDMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ5_0} {
		w, _ := weights(t, rng, typ, 129, 1280)
		x := randVec(rng, 1280)
		a, b := make([]float32, 129), make([]float32, 129)
		if err := (&MatVec{Portable: true}).Do(typ, w, 129, 1280, x, a); err != nil {
			t.Fatal(err)
		}
		if err := (&MatVec{}).Do(typ, w, 129, 1280, x, b); err != nil {
			t.Fatal(err)
		}
		if e := relErr(asF64(b), asF64(a)); e > 1e-5 {
			t.Errorf("%s: SIMD vs Go relative error %.3g", typ, e)
		}
	}
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

func TestMatVecNoAllocWarm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		w, _ := weights(t, rng, typ, 512, 512)
		x, y := randVec(rng, 512), make([]float32, 512)
		m := &MatVec{}
		m.Do(typ, w, 512, 512, x, y)
		if a := testing.AllocsPerRun(20, func() { m.Do(typ, w, 512, 512, x, y) }); a > 0 {
			t.Errorf("%s: %v allocations per warm call", typ, a)
		}
	}
}

func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		const rows, cols = 2048, 2048
		w, _ := weights(b, rng, typ, rows, cols)
		x, y := randVec(rng, cols), make([]float32, rows)
		m := &MatVec{}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for i := 0; i < b.N; i++ {
				m.Do(typ, w, rows, cols, x, y)
			}
			b.ReportMetric(2*rows*cols*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestDoBatchEqualsDo: a batch gives each input exactly what Do gives it
// alone, for every type and on both kernel sets.
func TestDoBatchEqualsDo(t *testing.T) {
	for _, off := range []bool{false, true} {
		noVNNI = off // the four-input Q8_0 kernel runs only without VNNI
		testDoBatchEqualsDo(t)
	}
	noVNNI = false
}

func testDoBatchEqualsDo(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		typ  gguf.Type
		cols int
	}{
		{gguf.TypeF32, 512}, {gguf.TypeF16, 512}, {gguf.TypeBF16, 512}, {gguf.TypeQ8_0, 512}, {gguf.TypeQ4_0, 512},
		{gguf.TypeQ5_0, 512}, {gguf.TypeQ4_K, 512}, {gguf.TypeQ5_K, 512}, {gguf.TypeQ6_K, 512},
		{gguf.TypeQ8_0, 288}, {gguf.TypeQ4_0, 288}, {gguf.TypeQ5_0, 288}, {gguf.TypeF32, 100}, {gguf.TypeF16, 100},
	} {
		typ, cols := tc.typ, tc.cols
		const rows, n = 700, 5
		w, _ := weights(t, rng, typ, rows, cols)
		xs, ys := make([][]float32, n), make([][]float32, n)
		for b := range xs {
			xs[b], ys[b] = randVec(rng, cols), make([]float32, rows)
		}
		for _, portable := range []bool{true, false} {
			m := &MatVec{Portable: portable}
			if err := m.DoBatch(typ, w, rows, cols, xs, ys); err != nil {
				t.Fatal(err)
			}
			for b := range xs {
				one := make([]float32, rows)
				if err := m.Do(typ, w, rows, cols, xs[b], one); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(one, ys[b]) {
					t.Errorf("%s portable=%v: input %d differs between DoBatch and Do", typ, portable, b)
				}
			}
		}
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

// TestQuantizeQ8SIMD: the AVX2 activation quantizer gives the Go one's
// scales exactly and its quants within one step (they round halves
// differently), with sums that match its quants.
func TestQuantizeQ8SIMD(t *testing.T) {
	if !SIMD() {
		t.Skip("no AVX2 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	const nb = 40
	x := randVec(rng, nb*32)
	x[5] = 0 // a zero, and a block of zeros
	for i := 64; i < 96; i++ {
		x[i] = 0
	}
	gq, gd, gs := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
	sq, sd, ss := make([]int8, nb*32), make([]float32, nb), make([]int32, nb)
	quantizeQ8(x, gq, gd, gs)
	simdQuantizeQ8(x, sq, sd, ss)
	for b := range nb {
		if gd[b] != sd[b] {
			t.Fatalf("block %d: scale %v, Go %v", b, sd[b], gd[b])
		}
		var sum int32
		for i := b * 32; i < (b+1)*32; i++ {
			if d := int(sq[i]) - int(gq[i]); d < -1 || d > 1 {
				t.Fatalf("element %d: %d, Go %d", i, sq[i], gq[i])
			}
			sum += int32(sq[i])
		}
		if sum != ss[b] {
			t.Fatalf("block %d: sum %d, quants sum to %d", b, ss[b], sum)
		}
	}
}

// TestRoundF16SIMD: the AVX2 rounding of inputs for F16 weights gives the
// Go one's values bit for bit, across normal, subnormal and overflowing
// magnitudes.
func TestRoundF16SIMD(t *testing.T) {
	if !SIMD() {
		t.Skip("no AVX2 kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	x := make([]float32, 4099)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-36)))
	}
	want, got := make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		want[i] = quant.F16ToF32(quant.F32ToF16(v))
	}
	simdRoundF16(x, got)
	for i := range x {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("x[%d] = %g: AVX2 %g, Go %g", i, x[i], got[i], want[i])
		}
	}
}
