package vulkan

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/testgguf"
	"github.com/vkinfer/vkinfer/quant"
)

// tensor is a test weight: random values of cols × rows, stored as typ.
type tensor struct {
	name       string
	typ        gguf.Type
	cols, rows int
}

// testFile writes the tensors with random values to a GGUF file and
// opens it.
func testFile(t *testing.T, r *rand.Rand, tensors ...tensor) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	b.SetString("general.architecture", "test")
	for _, ts := range tensors {
		v := make([]float32, ts.cols*ts.rows)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		data, err := quant.Quantize(ts.typ, v)
		if err != nil {
			t.Fatal(err)
		}
		dims := []uint64{uint64(ts.cols)}
		if ts.rows > 1 {
			dims = append(dims, uint64(ts.rows))
		}
		if err := b.AddTensor(ts.name, ts.typ, dims, data); err != nil {
			t.Fatal(err)
		}
	}
	return testgguf.Write(t, b)
}

// seq returns a batch of n tokens of one sequence from position pos, ids
// below vocab, wanting the outputs out marks (nil: the last).
func seq(r *rand.Rand, n, pos, vocab int, out []bool) *compute.Batch {
	b := &compute.Batch{Output: out}
	for i := range n {
		b.Tokens = append(b.Tokens, int32(r.IntN(vocab)))
		b.Pos = append(b.Pos, int32(pos+i))
	}
	return b
}

// maxErr returns max |got-want| over max |want|.
func maxErr(got, want []float32) float64 {
	var e, m float64
	for i := range want {
		e = max(e, math.Abs(float64(got[i]-want[i])))
		m = max(m, math.Abs(float64(want[i])))
	}
	return e / max(m, 1e-30)
}

const cells = 32

// compareGraph runs each batch through the graph of its shape on the
// device and on compute.Reference (with an f32 cache, as the device
// keeps) one after the other, and holds the results within tol of each
// other (max error over max magnitude).
func compareGraph(t *testing.T, f *gguf.File, build func(b *compute.Builder) compute.Tensor, tol float64, batches ...*compute.Batch) {
	t.Helper()
	w := NewWeights(opstest.Kernels(t))
	t.Cleanup(w.Close)
	var dev *Executor
	var ref *compute.Reference
	worst := 0.0
	for i, batch := range batches {
		b := compute.NewBuilder(f, batch.Shape())
		g, err := b.Finish(build(b))
		if err != nil {
			t.Fatal(err)
		}
		if dev == nil {
			c := g.Cache
			ref = compute.NewReference(c, cells)
			if dev, err = New(w, c, cells); err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
		}
		want, err := ref.Run(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dev.Run(g, batch)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("batch %d: %d values, want %d", i, len(got), len(want))
		}
		e := maxErr(got, want)
		worst = max(worst, e)
		if !(e <= tol) {
			t.Fatalf("batch %d: error %.3g > %.3g\n got %v\nwant %v", i, e, tol, got[:min(8, len(got))], want[:min(8, len(want))])
		}
	}
	t.Logf("max error %.3g", worst)
}

// TestOps runs one or two ops at a time on the device and on the
// reference. Tolerances are max error over max magnitude: elementwise ops
// and norms in f32 differ from the reference's float64 sums by a few
// ulps; a matmul by the f32 sum of cols products (the device keeps f32
// activations for quantized weights, as the reference does).
func TestOps(t *testing.T) {
	const dim, vocab, ffn = 64, 40, 96
	r := rand.New(rand.NewPCG(1, 2))
	f := testFile(t, r,
		tensor{"embd", gguf.TypeF32, dim, vocab},
		tensor{"embd_q8", gguf.TypeQ8_0, dim, vocab},
		tensor{"embd_q4k", gguf.TypeQ4_K, 256, vocab},
		tensor{"pos", gguf.TypeF16, dim, cells},
		tensor{"w_f32", gguf.TypeF32, dim, ffn},
		tensor{"w_f16", gguf.TypeF16, dim, ffn},
		tensor{"w_bf16", gguf.TypeBF16, dim, ffn},
		tensor{"w_q8", gguf.TypeQ8_0, dim, ffn},
		tensor{"w_q4", gguf.TypeQ4_0, dim, ffn},
		tensor{"w_q5", gguf.TypeQ5_0, dim, ffn},
		tensor{"w_q4k", gguf.TypeQ4_K, 256, 48},
		tensor{"w_q6k", gguf.TypeQ6_K, 256, 48},
		tensor{"down", gguf.TypeQ8_0, ffn, dim},
		tensor{"bias", gguf.TypeF32, ffn, 1},
		tensor{"row", gguf.TypeF32, dim, 1},
		tensor{"norm", gguf.TypeF32, dim, 1},
		tensor{"head_norm", gguf.TypeF32, 16, 1},
	)
	x := func(b *compute.Builder) compute.Tensor { return b.GetRows(b.Weight("embd", dim, vocab), b.Tokens()) }
	all := func(n int) []bool {
		o := make([]bool, n)
		for i := range o {
			o[i] = true
		}
		return o
	}
	one, five, twenty := seq(r, 1, 0, vocab, nil), seq(r, 5, 0, vocab, all(5)), seq(r, 20, 3, vocab, all(20))
	matmul := func(name string, cols, rows int) func(b *compute.Builder) compute.Tensor {
		return func(b *compute.Builder) compute.Tensor {
			in := b.GetRows(b.Weight("embd", dim, vocab), b.Tokens())
			if cols == 256 {
				in = b.GetRows(b.Weight("embd_q4k", 256, vocab), b.Tokens())
			}
			return b.Outputs(b.MatMul(b.Weight(name, cols, rows), in, compute.Tensor{}))
		}
	}
	rope := func(neox bool, dims int) func(b *compute.Builder) compute.Tensor {
		freqs := make([]float64, dims/2)
		for i := range freqs {
			freqs[i] = math.Pow(10000, -2*float64(i)/float64(dims))
		}
		return func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.Rope(x(b), &compute.Rope{HeadDim: 16, Dims: dims, NeoX: neox, Freqs: freqs}))
		}
	}
	// Two sequences packed in one batch, each from its own base cell: the
	// positions restart, the cells do not.
	packed := &compute.Batch{Tokens: []int32{1, 2, 3, 4, 5}, Pos: []int32{0, 1, 2, 0, 1}, Seq: []int32{0, 0, 0, 1, 1},
		Base: []int32{0, 8}, Output: all(5)}
	tests := []struct {
		name    string
		build   func(b *compute.Builder) compute.Tensor
		tol     float64
		batches []*compute.Batch
	}{
		{"get_rows f32", func(b *compute.Builder) compute.Tensor { return b.Outputs(x(b)) }, 0, []*compute.Batch{five, one}},
		{"get_rows q8_0", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("embd_q8", dim, vocab), b.Tokens()))
		}, 0, []*compute.Batch{five}},
		{"get_rows q4_K", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("embd_q4k", 256, vocab), b.Tokens()))
		}, 0, []*compute.Batch{five}},
		{"get_rows positions f16", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.GetRows(b.Weight("pos", dim, cells), b.Positions()))
		}, 0, []*compute.Batch{twenty, packed}},
		{"matmul f32", matmul("w_f32", dim, ffn), 1e-6, []*compute.Batch{one, five, twenty}},
		{"matmul f16", matmul("w_f16", dim, ffn), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul bf16", matmul("w_bf16", dim, ffn), 1e-2, []*compute.Batch{one, twenty}},
		{"matmul q8_0", matmul("w_q8", dim, ffn), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul q4_0", matmul("w_q4", dim, ffn), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul q5_0", matmul("w_q5", dim, ffn), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul q4_K", matmul("w_q4k", 256, 48), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul q6_K", matmul("w_q6k", 256, 48), 1e-6, []*compute.Batch{one, twenty}},
		{"matmul+bias", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.MatMul(b.Weight("w_q8", dim, ffn), x(b), b.Weight("bias", ffn, 1)))
		}, 1e-6, []*compute.Batch{one, twenty}},
		{"residual add of a matmul", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			g := b.MatMul(b.Weight("w_f32", dim, ffn), b.RMSNorm(h, b.Weight("norm", dim, 1), 1e-5), compute.Tensor{})
			return b.Outputs(b.Add(h, b.MatMul(b.Weight("down", ffn, dim), g, compute.Tensor{})))
		}, 1e-6, []*compute.Batch{one, twenty}},
		{"add, broadcast row, mul, scale", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.Scale(b.Mul(b.Add(h, b.Weight("row", dim, 1)), h), 0.25))
		}, 1e-7, []*compute.Batch{five}},
		{"add of two activations", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.Add(h, b.GetRows(b.Weight("pos", dim, cells), b.Positions())))
		}, 1e-7, []*compute.Batch{five}},
		{"rms_norm", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.RMSNorm(x(b), b.Weight("norm", dim, 1), 1e-5))
		}, 1e-6, []*compute.Batch{one, twenty}},
		{"rms_norm per head, no weight and weight", func(b *compute.Builder) compute.Tensor {
			h := b.HeadRMSNorm(x(b), compute.Tensor{}, 1e-6, 16)
			return b.Outputs(b.HeadRMSNorm(b.Scale(h, 3), b.Weight("head_norm", 16, 1), 1e-6, 16))
		}, 1e-6, []*compute.Batch{five}},
		{"layer_norm", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.LayerNorm(x(b), b.Weight("norm", dim, 1), b.Weight("row", dim, 1), 1e-12))
		}, 1e-6, []*compute.Batch{five}},
		{"layer_norm without weight or bias", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.LayerNorm(x(b), compute.Tensor{}, compute.Tensor{}, 1e-5))
		}, 1e-6, []*compute.Batch{five}},
		{"rope", rope(false, 16), 1e-5, []*compute.Batch{twenty, one}},
		{"rope neox, partial", rope(true, 8), 1e-5, []*compute.Batch{twenty, packed}},
		{"rope of an operand read again", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.Add(h, rope(false, 16)(b)))
		}, 1e-5, []*compute.Batch{five}},
		{"silu_mul", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.SiLUMul(b.Scale(h, 2), h))
		}, 1e-6, []*compute.Batch{five}},
		{"gelu, gelu_mul", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.GELUMul(b.GELU(b.Scale(h, 2)), h))
		}, 1e-6, []*compute.Batch{five}},
		{"gelu of an operand read again", func(b *compute.Builder) compute.Tensor {
			h := x(b)
			return b.Outputs(b.Mul(b.GELU(h), h))
		}, 1e-6, []*compute.Batch{five}},
		{"soft_cap", func(b *compute.Builder) compute.Tensor { return b.Outputs(b.SoftCap(b.Scale(x(b), 4), 1.5)) },
			1e-6, []*compute.Batch{five}},
		{"view", func(b *compute.Builder) compute.Tensor {
			h := b.MatMul(b.Weight("w_f32", dim, ffn), x(b), compute.Tensor{})
			return b.Outputs(b.Add(b.View(h, 8, 32), b.View(h, 40, 32)))
		}, 1e-6, []*compute.Batch{five, one}},
		{"outputs: some rows", func(b *compute.Builder) compute.Tensor { return b.Outputs(x(b)) }, 0,
			[]*compute.Batch{seq(r, 6, 0, vocab, []bool{true, false, true, true, false, true})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { compareGraph(t, f, tc.build, tc.tol, tc.batches...) })
	}
}

// TestAttention runs store_kv and attention over steps that fill the
// cache: causal (prompt, then decode), GQA, sequences packed in one
// non-causal batch, a sliding window.
func TestAttention(t *testing.T) {
	const dim, vocab, heads, kvHeads, hd = 64, 40, 4, 2, 16
	r := rand.New(rand.NewPCG(3, 4))
	f := testFile(t, r,
		tensor{"embd", gguf.TypeF32, dim, vocab},
		tensor{"wq", gguf.TypeQ8_0, dim, heads * hd},
		tensor{"wk", gguf.TypeF16, dim, kvHeads * hd},
		tensor{"wv", gguf.TypeF32, dim, kvHeads * hd},
	)
	freqs := []float64{1, 0.3, 0.1, 0.03}
	attend := func(a compute.Attention) func(b *compute.Builder) compute.Tensor {
		return func(b *compute.Builder) compute.Tensor {
			x := b.GetRows(b.Weight("embd", dim, vocab), b.Tokens())
			rp := &compute.Rope{HeadDim: hd, Dims: 8, Freqs: freqs}
			q := b.Rope(b.MatMul(b.Weight("wq", dim, heads*hd), x, compute.Tensor{}), rp)
			k := b.Rope(b.MatMul(b.Weight("wk", dim, kvHeads*hd), x, compute.Tensor{}), rp)
			v := b.MatMul(b.Weight("wv", dim, kvHeads*hd), x, compute.Tensor{})
			var out compute.Tensor
			for l := range 2 { // two layers of one cache
				out = b.Attention(q, b.StoreKV(l, k, v), &a, 0.25)
				q = b.Add(q, out)
			}
			return b.Outputs(q)
		}
	}
	all := func(n int) []bool {
		o := make([]bool, n)
		for i := range o {
			o[i] = true
		}
		return o
	}
	causal := compute.Attention{Heads: heads, KVHeads: kvHeads, HeadDim: hd, Causal: true}
	window := causal
	window.Window = 3
	full := causal
	full.Causal = false
	// The unnormalised projections make scores of tens, far past a cap of
	// 1.5: the cap bends nearly every one (it is tested, not its identity
	// near 0).
	capped := window
	capped.SoftCap = 1.5
	packed := &compute.Batch{Tokens: []int32{1, 2, 3, 4, 5, 6}, Pos: []int32{0, 1, 2, 0, 1, 0}, Seq: []int32{0, 0, 0, 1, 1, 2},
		Base: []int32{0, 10, 20}, Output: all(6)}
	tests := []struct {
		name    string
		a       compute.Attention
		batches []*compute.Batch
	}{
		{"causal: prompt, decode", causal, []*compute.Batch{seq(r, 7, 0, vocab, all(7)), seq(r, 1, 7, vocab, nil), seq(r, 1, 8, vocab, nil)}},
		{"causal: rewind", causal, []*compute.Batch{seq(r, 9, 0, vocab, nil), seq(r, 4, 3, vocab, all(4))}},
		// More shapes than an executor keeps bound, each larger than the
		// last (its scratch slots grow, which unbinds the others), then
		// the first again.
		{"many shapes", causal, []*compute.Batch{seq(r, 1, 0, vocab, nil), seq(r, 2, 1, vocab, all(2)), seq(r, 3, 3, vocab, nil),
			seq(r, 4, 6, vocab, all(4)), seq(r, 5, 10, vocab, nil), seq(r, 6, 15, vocab, all(6)), seq(r, 1, 21, vocab, nil)}},
		{"window", window, []*compute.Batch{seq(r, 8, 0, vocab, all(8)), seq(r, 1, 8, vocab, nil)}},
		{"non-causal, packed sequences", full, []*compute.Batch{packed}},
		{"soft-cap, window", capped, []*compute.Batch{seq(r, 8, 0, vocab, all(8)), seq(r, 1, 8, vocab, nil)}},
	}
	for _, tc := range tests {
		// Both round keys, values, queries and weights to f16 (the graph's
		// cache); a value within float32 noise of a rounding midpoint can go
		// either way, which costs more than the sums' own 1e-6.
		t.Run(tc.name, func(t *testing.T) { compareGraph(t, f, attend(tc.a), 1e-4, tc.batches...) })
	}
}

// TestRefused: ops without a shader fail at bind time, naming the op.
func TestRefused(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	f := testFile(t, r, tensor{"embd", gguf.TypeF32, 32, 8})
	w := NewWeights(opstest.Kernels(t))
	defer w.Close()
	tests := []struct {
		name, want string
		build      func(b *compute.Builder) compute.Tensor
	}{
		{"softmax", "softmax", func(b *compute.Builder) compute.Tensor {
			return b.Outputs(b.Softmax(b.GetRows(b.Weight("embd", 32, 8), b.Tokens())))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			batch := seq(r, 2, 0, 8, nil)
			b := compute.NewBuilder(f, batch.Shape())
			g, err := b.Finish(tc.build(b))
			if err != nil {
				t.Fatal(err)
			}
			e, err := New(w, g.Cache, cells)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			_, err = e.Run(g, batch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestBadBatch: batches that would read or write outside the device's
// buffers are refused before anything is recorded.
func TestBadBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	f := testFile(t, r, tensor{"embd", gguf.TypeF32, 32, 8})
	w := NewWeights(opstest.Kernels(t))
	defer w.Close()
	build := func(b *compute.Builder) compute.Tensor {
		x := b.GetRows(b.Weight("embd", 32, 8), b.Tokens())
		a := &compute.Attention{Heads: 2, KVHeads: 2, HeadDim: 16, Causal: true}
		return b.Outputs(b.Attention(x, b.StoreKV(0, x, x), a, 1))
	}
	b := compute.NewBuilder(f, compute.BatchShape{Tokens: 2, Outputs: 1})
	g, err := b.Finish(build(b))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(w, g.Cache, cells)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct {
		name  string
		batch *compute.Batch
	}{
		{"token outside the table", &compute.Batch{Tokens: []int32{1, 8}, Pos: []int32{0, 1}}},
		{"cell outside the cache", &compute.Batch{Tokens: []int32{1, 2}, Pos: []int32{cells - 1, cells}}},
		{"another shape", &compute.Batch{Tokens: []int32{1, 2, 3}, Pos: []int32{0, 1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Run(g, tc.batch); !errors.Is(err, compute.ErrBatch) {
				t.Fatalf("error %v, want compute.ErrBatch", err)
			}
		})
	}
	if _, err := e.Run(g, &compute.Batch{Tokens: []int32{1, 2}, Pos: []int32{0, 1}}); err != nil {
		t.Fatalf("a good batch after bad ones: %v", err)
	}
}

// TestMoE holds OpMoE on the device to compute.Reference, per stored type
// of the experts, for one token and prompts of several. Tolerances are
// max error over max magnitude: the expert products are f32 sums against
// the reference's float64 ones, as for matmul, through two products and a
// SiLU (the device's exp), and the routing's softmax is f32 (the
// reference's sums are float64), which moves the weights by an ulp or so:
// 1e-6 (1.3e-7 to 5.7e-7 measured; go test -v logs them), 2e-6 for
// q4_K's 256-wide rows (9.9e-7).
func TestMoE(t *testing.T) {
	all := func(n int) []bool {
		o := make([]bool, n)
		for i := range o {
			o[i] = true
		}
		return o
	}
	r := rand.New(rand.NewPCG(3, 4))
	one, seven, twenty := seq(r, 1, 0, 16, nil), seq(r, 7, 0, 16, all(7)), seq(r, 20, 2, 16, all(20))
	for _, tc := range []struct {
		name              string
		typ               gguf.Type
		width, ff, expert int
		used              int
		renorm            bool
		tol               float64
	}{
		{"f32 top2 renorm", gguf.TypeF32, 64, 32, 4, 2, true, 1e-6},
		{"f16 top2 renorm", gguf.TypeF16, 64, 32, 4, 2, true, 1e-6},
		{"f16 top1", gguf.TypeF16, 64, 32, 4, 1, false, 1e-6},
		{"f16 top3 of 8", gguf.TypeF16, 64, 64, 8, 3, false, 1e-6},
		{"q8_0 top1 renorm", gguf.TypeQ8_0, 64, 64, 4, 1, true, 1e-6},
		{"q8_0 top2 renorm", gguf.TypeQ8_0, 64, 64, 4, 2, true, 1e-6},
		{"q4_K top2 renorm", gguf.TypeQ4_K, 256, 256, 4, 2, true, 2e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testgguf.MoE(t, tc.typ, tc.width, tc.ff, tc.expert)
			compareGraph(t, f, func(b *compute.Builder) compute.Tensor {
				x := b.GetRows(b.Weight("embd", tc.width, 16), b.Tokens())
				logits := b.MatMul(b.Weight("router", tc.width, tc.expert), x, compute.Tensor{})
				m := &compute.MoE{Experts: tc.expert, Used: tc.used, Renorm: tc.renorm}
				return b.Outputs(b.MoE(x, logits, b.Experts("gate", tc.width, tc.ff, tc.expert),
					b.Experts("up", tc.width, tc.ff, tc.expert), b.Experts("down", tc.ff, tc.width, tc.expert), m))
			}, tc.tol, one, seven, twenty)
		})
	}
}
