package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testgguf"
	"github.com/vkinfer/vkinfer/internal/vecdiff"
	"github.com/vkinfer/vkinfer/quant"
)

// tensorSpec is a weight of a test file: cols × rows random values in
// (-1, 1), stored as typ.
type tensorSpec struct {
	name       string
	typ        gguf.Type
	cols, rows int
}

// testFile writes the tensors to a GGUF file and opens it.
func testFile(t testing.TB, seed uint64, specs ...tensorSpec) *gguf.File {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	b := gguf.NewBuilder()
	b.SetString("general.architecture", "test")
	for _, s := range specs {
		vals := make([]float32, s.cols*s.rows)
		for i := range vals {
			vals[i] = rng.Float32()*2 - 1
		}
		data, err := quant.Quantize(s.typ, vals)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddTensor(s.name, s.typ, []uint64{uint64(s.cols), uint64(s.rows)}, data); err != nil {
			t.Fatal(err)
		}
	}
	return testgguf.Write(t, b)
}

// opsFile holds 64-wide activations (two tables of 16 rows, so two
// operands differ), rows to broadcast, a head-wide norm weight and a
// square matrix.
func opsFile(t testing.TB) *gguf.File {
	return testFile(t, 7,
		tensorSpec{"embd", gguf.TypeF32, 64, 16},
		tensorSpec{"embd2", gguf.TypeF32, 64, 16},
		tensorSpec{"embd_f16", gguf.TypeF16, 64, 16},
		tensorSpec{"embd_q8", gguf.TypeQ8_0, 64, 16},
		tensorSpec{"embd_q4k", gguf.TypeQ4_K, 256, 16},
		tensorSpec{"row", gguf.TypeF32, 64, 1},
		tensorSpec{"row_f16", gguf.TypeF16, 64, 1},
		tensorSpec{"bias", gguf.TypeF32, 64, 1},
		tensorSpec{"head", gguf.TypeF32, 8, 1},
		tensorSpec{"w", gguf.TypeF32, 64, 64},
		tensorSpec{"w2", gguf.TypeF32, 64, 64},
	)
}

// Two batches of five tokens, the second after the first, every token
// wanting its row.
var (
	batch1 = &compute.Batch{Tokens: []int32{3, 7, 1, 12, 5}, Pos: []int32{0, 1, 2, 3, 4}, Output: []bool{true, true, true, true, true}}
	batch2 = &compute.Batch{Tokens: []int32{9, 2, 14, 0, 6}, Pos: []int32{5, 6, 7, 8, 9}, Output: []bool{true, true, true, true, true}}
)

const testCells = 16

// runBoth builds a graph for the shape of batches[0] and runs every batch
// in turn on the reference and on a CPU executor, returning the largest
// relative error (RMS of the difference over RMS of the reference) and
// whether every value was equal.
func runBoth(t *testing.T, f *gguf.File, build func(*compute.Builder) compute.Tensor, cache gguf.Type, batches ...*compute.Batch) (float64, bool) {
	t.Helper()
	b := compute.NewBuilder(f, batches[0].Shape())
	g, err := b.Finish(build(b))
	if err != nil {
		t.Fatal(err)
	}
	g.Cache.Type = cache
	ref := compute.NewReference(g.Cache, testCells)
	e, err := New(g.Cache, testCells)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	worst, equal := 0.0, true
	for i, batch := range batches {
		want, err := ref.Run(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Run(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("batch %d: %d values, want %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				equal = false
			}
			if math.IsNaN(float64(got[j])) {
				t.Fatalf("batch %d: value %d is NaN", i, j)
			}
		}
		worst = max(worst, vecdiff.RelRMS(got, want))
	}
	return worst, equal
}

func x(b *compute.Builder) compute.Tensor { return b.GetRows(b.Weight("embd", 64, 16), b.Tokens()) }
func y(b *compute.Builder) compute.Tensor { return b.GetRows(b.Weight("embd2", 64, 16), b.Tokens()) }

// rope8 rotates heads of 8, all of them or the first 4 dimensions.
func rope8(dims int, neox bool) *compute.Rope {
	r := &compute.Rope{HeadDim: 8, Dims: dims, NeoX: neox}
	for i := range dims / 2 {
		r.Freqs = append(r.Freqs, math.Pow(10000, -2*float64(i)/float64(dims)))
	}
	return r
}

// attention attends x's 8 heads of 8, rotated, to keys and values from
// y: for kvHeads 4 (GQA) its two halves, for 8 y and y/2.
func attention(a compute.Attention, scale float32) func(*compute.Builder) compute.Tensor {
	return func(b *compute.Builder) compute.Tensor {
		a := a
		a.Heads, a.HeadDim = 8, 8
		r := rope8(8, false)
		q := b.Rope(x(b), r)
		k, v := y(b), b.Scale(y(b), 0.5)
		if a.KVHeads == 4 {
			k, v = b.View(y(b), 0, 32), b.View(y(b), 32, 32)
		}
		return b.Outputs(b.Attention(q, b.StoreKV(0, b.Rope(k, r), v), &a, scale))
	}
}

// TestOps holds each op to compute.Reference on random inputs over two
// batches (attention's second batch sees the first's cells). tol bounds
// the relative error; ops that do the reference's arithmetic must match
// it bit for bit. The kernels sum in float32 (the reference in float64)
// and take exp from a polynomial: 1e-7 here (1e-6 allowed). With an F16
// cache both round the attention weights to f16, and a weight that lies
// within that 1e-7 of a rounding midpoint moves by an f16 step (5e-4 of
// itself) in one and not the other, hence 1e-4 there. The measured
// errors are logged (go test -v).
func TestOps(t *testing.T) {
	f := opsFile(t)
	const scale = 0.35355339 // 1/sqrt(8)
	tests := []struct {
		name  string
		build func(*compute.Builder) compute.Tensor
		cache gguf.Type
		tol   float64 // 0: bit-equal
	}{
		{"get_rows f32", func(b *compute.Builder) compute.Tensor { return b.Outputs(x(b)) }, gguf.TypeF16, 0},
		{"get_rows f16", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("embd_f16", 64, 16), b.Tokens()))
		}, gguf.TypeF16, 0},
		{"get_rows q8_0", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("embd_q8", 64, 16), b.Tokens()))
		}, gguf.TypeF16, 0},
		{"get_rows q4_k", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("embd_q4k", 256, 16), b.Tokens()))
		}, gguf.TypeF16, 0},
		{"add", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Add(x(b), y(b))) }, gguf.TypeF16, 0},
		{"add f32 row", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Add(x(b), b.Weight("row", 64, 1))) }, gguf.TypeF16, 0},
		{"add f16 row", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Add(x(b), b.Weight("row_f16", 64, 1))) }, gguf.TypeF16, 0},
		{"add scratch row", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.Add(x(b), b.Scale(b.View(b.Weight("row", 64, 1), 0, 64), 2)))
		}, gguf.TypeF16, 0},
		{"mul", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Mul(x(b), y(b))) }, gguf.TypeF16, 0},
		{"mul f16 row", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Mul(x(b), b.Weight("row_f16", 64, 1))) }, gguf.TypeF16, 0},
		{"scale", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Scale(x(b), -1.7)) }, gguf.TypeF16, 0},
		{"rms_norm", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.RMSNorm(x(b), b.Weight("row", 64, 1), 1e-5))
		}, gguf.TypeF16, 1e-6},
		{"rms_norm no weight", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.RMSNorm(x(b), compute.Tensor{}, 1e-5)) }, gguf.TypeF16, 1e-6},
		{"rms_norm per head", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.HeadRMSNorm(x(b), b.Weight("head", 8, 1), 1e-6, 8))
		}, gguf.TypeF16, 1e-6},
		{"rms_norm per head no weight", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.HeadRMSNorm(x(b), compute.Tensor{}, 1e-6, 16))
		}, gguf.TypeF16, 1e-6},
		{"layer_norm", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.LayerNorm(x(b), b.Weight("row", 64, 1), b.Weight("bias", 64, 1), 1e-5))
		}, gguf.TypeF16, 0},
		{"layer_norm no weight", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.LayerNorm(x(b), compute.Tensor{}, compute.Tensor{}, 1e-12))
		}, gguf.TypeF16, 0},
		{"rope", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Rope(x(b), rope8(8, false))) }, gguf.TypeF16, 1e-6},
		{"rope neox", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Rope(x(b), rope8(8, true))) }, gguf.TypeF16, 1e-6},
		{"rope partial neox", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Rope(x(b), rope8(4, true))) }, gguf.TypeF16, 1e-6},
		{"silu_mul", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.SiLUMul(x(b), y(b))) }, gguf.TypeF16, 1e-6},
		{"gelu", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.GELU(b.Scale(x(b), 4))) }, gguf.TypeF16, 0},
		{"gelu_mul", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.GELUMul(b.Scale(x(b), 4), y(b))) }, gguf.TypeF16, 0},
		{"softmax", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Softmax(b.Scale(x(b), 5))) }, gguf.TypeF16, 1e-6},
		{"soft_cap", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.SoftCap(b.Scale(x(b), 4), 1.5)) }, gguf.TypeF16, 0},
		{"view", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.View(x(b), 24, 20)) }, gguf.TypeF16, 0},
		{"matmul f32 + bias", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.MatMul(b.Weight("w", 64, 64), x(b), b.Weight("bias", 64, 1)))
		}, gguf.TypeF16, 1e-6},
		{"matmul of a view", func(b *compute.Builder) compute.Tensor {
			v := b.View(b.MatMul(b.Weight("w", 64, 64), x(b), compute.Tensor{}), 0, 64)
			return b.Outputs(b.MatMul(b.Weight("w", 64, 64), v, compute.Tensor{}))
		}, gguf.TypeF16, 1e-6},
		{"attention causal", attention(compute.Attention{KVHeads: 8, Causal: true}, scale), gguf.TypeF16, 1e-4},
		{"attention gqa", attention(compute.Attention{KVHeads: 4, Causal: true}, scale), gguf.TypeF16, 1e-4},
		{"attention not causal", attention(compute.Attention{KVHeads: 4}, scale), gguf.TypeF16, 1e-4},
		{"attention window", attention(compute.Attention{KVHeads: 4, Causal: true, Window: 3}, scale), gguf.TypeF16, 1e-4},
		{"attention window not causal", attention(compute.Attention{KVHeads: 8, Window: 2}, scale), gguf.TypeF16, 1e-4},
		{"attention soft-cap", attention(compute.Attention{KVHeads: 4, Causal: true, SoftCap: 1.5}, 3), gguf.TypeF16, 1e-4},
		// More query heads on a KV head than a kernels.AttendTile holds:
		// the heads go in chunks.
		{"attention 32 heads on one", func(b *compute.Builder) compute.Tensor {
			a := compute.Attention{Heads: 32, KVHeads: 1, HeadDim: 2, Causal: true}
			return b.Outputs(b.Attention(x(b), b.StoreKV(0, b.View(y(b), 0, 2), b.View(y(b), 2, 2)), &a, 0.7))
		}, gguf.TypeF16, 1e-4},
		{"attention f32 cache", attention(compute.Attention{KVHeads: 4, Causal: true}, scale), gguf.TypeF32, 1e-6},
		{"attention f32 cache soft-cap", attention(compute.Attention{KVHeads: 8, Causal: true, SoftCap: 2}, 3), gguf.TypeF32, 1e-6},
		{"block", block, gguf.TypeF16, 1e-4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, equal := runBoth(t, f, tc.build, tc.cache, batch1, batch2)
			t.Logf("relative error %.3g, bit-equal %v", e, equal)
			if tc.tol == 0 && !equal || e > tc.tol {
				t.Errorf("relative error %.3g (bit-equal %v) beyond %g", e, equal, tc.tol)
			}
		})
	}
}

// block is a llama block over x with GQA attention: norms, residual adds
// and a gated feed-forward, so the plan reuses buffers and runs ops in
// place on operands that die with them.
func block(b *compute.Builder) compute.Tensor {
	r := rope8(8, false)
	w, wq := b.Weight("w", 64, 64), b.Weight("w2", 64, 64)
	xs := x(b)
	h := b.RMSNorm(xs, b.Weight("row", 64, 1), 1e-5)
	qkv := b.MatMul(w, h, b.Weight("bias", 64, 1))
	q := b.Rope(b.HeadRMSNorm(b.MatMul(wq, h, compute.Tensor{}), b.Weight("head", 8, 1), 1e-6, 8), r)
	k := b.Rope(b.View(qkv, 0, 32), r)
	a := b.Attention(q, b.StoreKV(0, k, b.View(qkv, 32, 32)), &compute.Attention{Heads: 8, KVHeads: 4, HeadDim: 8, Causal: true}, 0.35355339)
	xs = b.Add(xs, b.MatMul(w, a, compute.Tensor{}))
	h = b.RMSNorm(xs, b.Weight("row", 64, 1), 1e-5)
	xs = b.Add(xs, b.MatMul(wq, b.SiLUMul(b.MatMul(w, h, compute.Tensor{}), b.MatMul(wq, h, compute.Tensor{})), compute.Tensor{}))
	return b.RMSNorm(b.Outputs(xs), b.Weight("row", 64, 1), 1e-5)
}

// TestOutputs: the rows of the tokens that want outputs, in batch order,
// for batches wanting some, one (the last, Output nil) and all.
func TestOutputs(t *testing.T) {
	f := opsFile(t)
	for _, tc := range []struct {
		name   string
		output []bool
	}{
		{"some", []bool{true, false, false, true, true}},
		{"last", nil},
		{"first", []bool{true, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch := &compute.Batch{Tokens: batch1.Tokens, Pos: batch1.Pos, Output: tc.output}
			build := func(b *compute.Builder) compute.Tensor { return b.Outputs(b.Scale(x(b), 3)) }
			if e, equal := runBoth(t, f, build, gguf.TypeF16, batch); !equal {
				t.Errorf("relative error %.3g, want bit-equal", e)
			}
		})
	}
}

// TestMatMul holds matrix products in each weight type to the reference,
// for one token and for five (DoBatch's four-input blocks and one left
// over). The error is measured as kernels/matvec_test.go does: the RMS
// over outputs of the difference relative to Σ|w·x|, the scale of a dot
// product's rounding. F32 and F16 weights meet the float32 input as it is;
// the quantized types meet it quantized to 8-bit blocks (Q8_0's for Q8_0,
// Q8_K's for the K-quants), as ggml does, and so does the reference:
// float32 sums against the reference's float64 either way, 1e-6.
func TestMatMul(t *testing.T) {
	const cols, rows = 512, 40
	types := []struct {
		typ   gguf.Type
		bound float64
	}{
		{gguf.TypeF32, 1e-6}, {gguf.TypeF16, 1e-6}, {gguf.TypeQ8_0, 1e-6}, {gguf.TypeQ4_K, 1e-6}, {gguf.TypeQ6_K, 1e-6},
	}
	specs := []tensorSpec{{"in", gguf.TypeF32, cols, 16}, {"bias", gguf.TypeF32, rows, 1}}
	for _, ty := range types {
		specs = append(specs, tensorSpec{"w_" + ty.typ.String(), ty.typ, cols, rows})
	}
	f := testFile(t, 11, specs...)
	table := weightValues(t, f, "in")
	for _, ty := range types {
		w := weightValues(t, f, "w_"+ty.typ.String())
		for _, batch := range []*compute.Batch{
			{Tokens: []int32{6}, Pos: []int32{0}},
			{Tokens: batch1.Tokens, Pos: batch1.Pos, Output: batch1.Output},
		} {
			t.Run(fmt.Sprintf("%s/%d", ty.typ, len(batch.Tokens)), func(t *testing.T) {
				b := compute.NewBuilder(f, batch.Shape())
				g, err := b.Finish(b.Outputs(b.MatMul(b.Weight("w_"+ty.typ.String(), cols, rows), b.GetRows(b.Weight("in", cols, 16), b.Tokens()), b.Weight("bias", rows, 1))))
				if err != nil {
					t.Fatal(err)
				}
				want, err := compute.NewReference(g.Cache, testCells).Run(g, batch)
				if err != nil {
					t.Fatal(err)
				}
				e, err := New(g.Cache, testCells)
				if err != nil {
					t.Fatal(err)
				}
				got, err := e.Run(g, batch)
				if err != nil {
					t.Fatal(err)
				}
				var ss float64
				for i, tok := range batch.Tokens {
					x := table[int(tok)*cols:][:cols]
					for r := range rows {
						var scale float64
						for c, xv := range x {
							scale += math.Abs(float64(w[r*cols+c]) * float64(xv))
						}
						d := (float64(got[i*rows+r]) - float64(want[i*rows+r])) / scale
						ss += d * d
					}
				}
				rms := math.Sqrt(ss / float64(len(got)))
				t.Logf("RMS error %.3g of Σ|w·x|", rms)
				if !(rms <= ty.bound) {
					t.Errorf("RMS error %.3g of Σ|w·x| > %g", rms, ty.bound)
				}
			})
		}
	}
}

// weightValues returns the named tensor of f dequantized.
func weightValues(t *testing.T, f *gguf.File, name string) []float32 {
	t.Helper()
	info, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, info.Elements())
	if err := quant.Dequantize(info.Type, f.TensorData(info), out); err != nil {
		t.Fatal(err)
	}
	return out
}
