package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
)

// gemmCase is a packed matrix with random weights and inputs: 40 rows
// (five groups, so AVX-512's pairs end in an odd group), and 19 inputs
// (two full AVX-512 passes of 8, then 3; four of 4 for AVX2, then 3).
type gemmCase struct {
	typ        gguf.Type
	rows, cols int
	w          []byte
	p          *Packed
	x          []float32
}

const gemmInputs = 19

func gemmCases(t *testing.T) []gemmCase {
	rng := rand.New(rand.NewPCG(19, 8))
	var cases []gemmCase
	for _, c := range []struct {
		typ  gguf.Type
		cols int
	}{{gguf.TypeQ8_0, 96}, {gguf.TypeQ4_0, 160}, {gguf.TypeIQ4_NL, 96}, {gguf.TypeQ4_K, 512}, {gguf.TypeQ5_0, 96}, {gguf.TypeQ6_K, 512}} {
		const rows = 40
		w, _ := weights(t, rng, c.typ, rows, c.cols)
		size, err := PackedSize(c.typ, rows, c.cols)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Repack(c.typ, w, rows, c.cols, make([]byte, size))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, gemmCase{typ: c.typ, rows: rows, cols: c.cols, w: w, p: p, x: randVec(rng, gemmInputs*c.cols)})
	}
	return cases
}

func (c gemmCase) String() string { return fmt.Sprintf("%s_%dx%d", c.typ, c.rows, c.cols) }

// TestGemmKernelsEqualGo: each set's kernel gives the Go reference's bits
// on the same quantized inputs, for any split of the groups (so a group's
// place in an AVX-512 pair or an AVX2 tail does not matter) and any
// number of inputs.
func TestGemmKernelsEqualGo(t *testing.T) {
	for _, c := range gemmCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			var g Gemm
			g.quantize(isaGo, c.p, c.x, gemmInputs)
			want := make([]float32, gemmInputs*c.rows)
			gemmGo(c.p, &g.in, want, 0, c.rows/PackRows)
			forEachISA(t, func(t *testing.T, v isa) {
				k := gemmKernel(c.typ, v)
				for _, n := range []int{1, 2, 3, 8, gemmInputs} {
					in := g.in
					in.n = n
					for _, split := range [][]int{{0, 5}, {0, 1, 4, 5}, {0, 3, 5}} {
						got := poisoned(n * c.rows)
						for s := 1; s < len(split); s++ {
							k(c.p, &in, got, split[s-1], split[s])
						}
						if !slices.Equal(got, want[:n*c.rows]) {
							t.Errorf("%d inputs, groups split at %v: differ from the Go reference (first %v, want %v)", n, split, got[:4], want[:4])
						}
					}
				}
			})
		})
	}
}

// TestGemmBatchInvariant: through Do (quantizing with each set's own
// quantizer), every batch of 1..19 inputs gives each input the bits it
// gets alone, and every C set gives the same bits.
func TestGemmBatchInvariant(t *testing.T) {
	for _, c := range gemmCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			var simd []float32
			forEachISA(t, func(t *testing.T, v isa) {
				var g Gemm
				one := make([]float32, gemmInputs*c.rows)
				for i := range gemmInputs {
					if err := g.Do(c.p, c.x[i*c.cols:(i+1)*c.cols], 1, one[i*c.rows:(i+1)*c.rows]); err != nil {
						t.Fatal(err)
					}
				}
				for n := 1; n <= gemmInputs; n++ {
					y := poisoned(n * c.rows)
					if err := g.Do(c.p, c.x, n, y); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(y, one[:n*c.rows]) {
						t.Errorf("a batch of %d differs from one input at a time", n)
					}
				}
				if v >= isaAVX2 {
					if simd == nil {
						simd = one
					} else if !slices.Equal(one, simd) {
						t.Errorf("%s differs from the lower C sets", v)
					}
				}
			})
		})
	}
}

// TestGemmMatchesMatVec: the GEMM over packed weights agrees with
// MatVec over the GGUF layout within float32 summation noise (they
// quantize the inputs alike and sum the same integer dots in other float
// orders).
func TestGemmMatchesMatVec(t *testing.T) {
	for _, c := range gemmCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			forEachISA(t, func(t *testing.T, v isa) {
				var g Gemm
				var m MatVec
				got := make([]float32, gemmInputs*c.rows)
				if err := g.Do(c.p, c.x, gemmInputs, got); err != nil {
					t.Fatal(err)
				}
				for i := range gemmInputs {
					want := make([]float32, c.rows)
					if err := m.Do(c.typ, c.w, c.rows, c.cols, c.x[i*c.cols:(i+1)*c.cols], want); err != nil {
						t.Fatal(err)
					}
					if e := relErr(asF64(got[i*c.rows:(i+1)*c.rows]), asF64(want)); !(e <= 1e-5) {
						t.Errorf("input %d: relative error %.3g from MatVec", i, e)
					}
				}
			})
		})
	}
}

// TestGemmAllocs: a warm Do allocates nothing, on one input or a batch.
func TestGemmAllocs(t *testing.T) {
	c := gemmCases(t)[1]
	var g Gemm
	y := make([]float32, gemmInputs*c.rows)
	for _, n := range []int{1, gemmInputs} {
		if a := testing.AllocsPerRun(10, func() { g.Do(c.p, c.x, n, y) }); a != 0 {
			t.Errorf("%d inputs: %v allocations per Do", n, a)
		}
	}
}

// TestRepackSplit: a matrix packed over the workers (SetThreads(3): three
// ranges of groups) is the one packed in one range.
func TestRepackSplit(t *testing.T) {
	prev := Threads()
	SetThreads(3)
	defer SetThreads(prev)
	rng := rand.New(rand.NewPCG(1, 1))
	const rows, cols = 1600, 64
	w, _ := weights(t, rng, gguf.TypeQ4_0, rows, cols)
	size, _ := PackedSize(gguf.TypeQ4_0, rows, cols)
	p, err := Repack(gguf.TypeQ4_0, w, rows, cols, make([]byte, size))
	if err != nil {
		t.Fatal(err)
	}
	one := make([]byte, size)
	(&repackTask{l: packLayouts[gguf.TypeQ4_0], w: w, dst: one, rb: 36, nb: 2}).run(0, 0, rows/PackRows)
	if !slices.Equal(p.Data, one) {
		t.Error("packing over the workers differs from packing in one range")
	}
}

func TestRepackErrors(t *testing.T) {
	for _, c := range []struct {
		typ        gguf.Type
		rows, cols int
	}{{gguf.TypeF32, 8, 32}, {gguf.TypeQ5_1, 8, 32}, {gguf.TypeQ4_0, 12, 32}, {gguf.TypeQ4_K, 8, 32}, {gguf.TypeQ8_0, 0, 32}} {
		if _, err := PackedSize(c.typ, c.rows, c.cols); !errors.Is(err, ErrNotPackable) {
			t.Errorf("%d×%d %s: PackedSize error %v, want ErrNotPackable", c.rows, c.cols, c.typ, err)
		}
	}
	if _, err := Repack(gguf.TypeQ4_0, make([]byte, 18*7), 8, 32, make([]byte, 144)); !errors.Is(err, ErrShape) {
		t.Errorf("short weights: error %v, want ErrShape", err)
	}
	var g Gemm
	p := &Packed{Type: gguf.TypeQ4_0, Rows: 8, Cols: 32, Data: make([]byte, 144)}
	if err := g.Do(p, make([]float32, 32), 2, make([]float32, 16)); !errors.Is(err, ErrShape) {
		t.Errorf("short input: error %v, want ErrShape", err)
	}
}

// TestFMA32: fma32 rounds a·b+c once, as math/big computes it exactly,
// on random operands and on sums built to land on float32 midpoints.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 2))
	exact := func(a, b, c float32) float32 {
		x := new(big.Float).SetPrec(300).SetFloat64(float64(a))
		x.Mul(x, new(big.Float).SetPrec(300).SetFloat64(float64(b)))
		x.Add(x, new(big.Float).SetPrec(300).SetFloat64(float64(c)))
		f, _ := x.Float32()
		return f
	}
	check := func(a, b, c float32) {
		if got, want := fma32(a, b, c), exact(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	for range 200000 {
		a := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(20)-10)))
		b := float32(rng.NormFloat64() * 1000)
		c := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-10)))
		check(a, b, c)
	}
	// c = 1 and a·b = 2^-24 + 2^-48·k: the float64 sum rounds onto the
	// midpoint 1 + 2^-24 for small k, the exact one lies above it.
	for k := 1; k < 64; k++ {
		a := float32(1 + math.Exp2(-23)*float64(k%7+1))
		b := float32(math.Exp2(-24) / float64(a))
		check(a, b, 1)
		check(a, -b, 1)
		check(float32(1+math.Exp2(-12)), float32(math.Exp2(-12)+math.Exp2(-23)*float64(k)), 1)
	}
}

// BenchmarkGemm measures BenchmarkDoBatch's batch of 32 on packed weights,
// per kernel set the host runs, and one input (a decode step).
func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 2048, 2048
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		w, _ := weights(b, rng, typ, rows, cols)
		size, _ := PackedSize(typ, rows, cols)
		p, err := Repack(typ, w, rows, cols, make([]byte, size))
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 32} {
			x, y := randVec(rng, n*cols), make([]float32, n*rows)
			for _, v := range isas[1:] {
				if v > hostISA {
					continue
				}
				b.Run(fmt.Sprintf("%s/n=%d/%s", typ, n, v), func(b *testing.B) {
					prev := active
					active = v
					defer func() { active = prev }()
					var g Gemm
					for i := 0; i < b.N; i++ {
						g.Do(p, x, n, y)
					}
					b.ReportMetric(2*rows*cols*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
