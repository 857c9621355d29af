package compute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testgguf"
)

// testFile writes F32 tensors (name → dims and values) to a GGUF file and
// opens it.
func testFile(t *testing.T, tensors map[string]struct {
	dims []uint64
	vals []float32
}) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	b.SetString("general.architecture", "test")
	for name, ts := range tensors {
		data := make([]byte, 4*len(ts.vals))
		for i, v := range ts.vals {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
		if err := b.AddTensor(name, gguf.TypeF32, ts.dims, data); err != nil {
			t.Fatal(err)
		}
	}
	return testgguf.Write(t, b)
}

type tensorSpec = struct {
	dims []uint64
	vals []float32
}

// tiny holds a 3-token vocabulary of 4-wide embeddings, a 2×4 matrix, a
// bias and a norm weight, with values simple enough to check by hand.
func tiny(t *testing.T) *gguf.File {
	return testFile(t, map[string]tensorSpec{
		"embd": {[]uint64{4, 3}, []float32{1, 2, 3, 4, -1, 0, 1, 0, 0.5, 0.5, 0.5, 0.5}},
		"w":    {[]uint64{4, 2}, []float32{1, 0, 0, 1, 0, 1, 1, 0}},
		"bias": {[]uint64{2}, []float32{10, 20}},
		"norm": {[]uint64{4}, []float32{1, 2, 1, 2}},
	})
}

// TestReferenceOps runs small graphs through the reference and checks
// exact values worked out by hand.
func TestReferenceOps(t *testing.T) {
	f := tiny(t)
	batch := &Batch{Tokens: []int32{0, 1}, Pos: []int32{0, 1}, Output: []bool{true, true}}
	tests := []struct {
		name  string
		build func(b *Builder) Tensor
		want  []float32
	}{
		{"get_rows", func(b *Builder) Tensor { return b.Outputs(b.GetRows(b.Weight("embd", 4, 3), b.Tokens())) },
			[]float32{1, 2, 3, 4, -1, 0, 1, 0}},
		{"matmul+bias", func(b *Builder) Tensor {
			return b.Outputs(b.MatMul(b.Weight("w", 4, 2), b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), b.Weight("bias", 2, 1)))
		}, []float32{1 + 4 + 10, 2 + 3 + 20, -1 + 0 + 10, 0 + 1 + 20}},
		{"add row, mul, scale", func(b *Builder) Tensor {
			x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
			return b.Outputs(b.Scale(b.Mul(b.Add(x, b.Weight("norm", 4, 1)), x), 0.5))
		}, []float32{1, 4, 6, 12, 0, 0, 1, 0}},
		{"rms_norm", func(b *Builder) Tensor {
			return b.Outputs(b.RMSNorm(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), b.Weight("norm", 4, 1), 0))
		}, rmsWant([]float32{1, 2, 3, 4, -1, 0, 1, 0}, []float32{1, 2, 1, 2})},
		{"view", func(b *Builder) Tensor { return b.Outputs(b.View(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), 1, 2)) },
			[]float32{2, 3, 0, 1}},
		{"softmax", func(b *Builder) Tensor { return b.Outputs(b.Softmax(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()))) },
			append(softmaxWant(1, 2, 3, 4), softmaxWant(-1, 0, 1, 0)...)},
		{"soft_cap", func(b *Builder) Tensor { return b.Outputs(b.SoftCap(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), 2)) },
			softCapWant(2, 1, 2, 3, 4, -1, 0, 1, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(f, batch.Shape())
			g, err := b.Finish(tc.build(b))
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewReference(g.Cache, 4).Run(g, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-6 {
					t.Fatalf("got %v\nwant %v", got, tc.want)
				}
			}
		})
	}
}

func rmsWant(x, w []float32) []float32 {
	var out []float32
	for r := 0; r < len(x); r += 4 {
		var ss float64
		for _, v := range x[r : r+4] {
			ss += float64(v * v)
		}
		s := 1 / math.Sqrt(ss/4)
		for i, v := range x[r : r+4] {
			out = append(out, float32(float64(v)*s)*w[i])
		}
	}
	return out
}

func softmaxWant(x ...float64) []float32 {
	var sum float64
	for _, v := range x {
		sum += math.Exp(v)
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(math.Exp(v) / sum)
	}
	return out
}

func softCapWant(limit float64, x ...float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(limit * math.Tanh(v/limit))
	}
	return out
}

// TestReferenceAttention: with one head, keys equal to the queries' rows
// and causal masking, the first token attends only to itself and the
// second splits its weight by the softmax of the scaled scores.
func TestReferenceAttention(t *testing.T) {
	f := tiny(t)
	batch := &Batch{Tokens: []int32{0, 1}, Pos: []int32{0, 1}, Output: []bool{true, true}}
	b := NewBuilder(f, batch.Shape())
	x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
	a := &Attention{Heads: 1, KVHeads: 1, HeadDim: 4, Causal: true}
	g, err := b.Finish(b.Outputs(b.Attention(x, b.StoreKV(0, x, x), a, 0.5)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewReference(g.Cache, 4).Run(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	// Token 1: scores 0.5·(q1·k0, q1·k1) = (1, 1): equal weights.
	want := []float32{1, 2, 3, 4, 0, 1, 2, 2}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	}
}

// TestBuilderShapes: ops refuse operands that do not fit, naming them.
func TestBuilderShapes(t *testing.T) {
	f := tiny(t)
	tests := []struct {
		name  string
		build func(b *Builder) Tensor
		want  error
	}{
		{"missing weight", func(b *Builder) Tensor { return b.Weight("nope", 4, 1) }, ErrMissing},
		{"weight shape", func(b *Builder) Tensor { return b.Weight("w", 2, 4) }, ErrShape},
		{"matmul width", func(b *Builder) Tensor {
			return b.MatMul(b.Weight("w", 4, 2), b.View(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), 0, 3), Tensor{})
		}, ErrShape},
		{"bias width", func(b *Builder) Tensor {
			return b.MatMul(b.Weight("w", 4, 2), b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), b.Weight("norm", 4, 1))
		}, ErrShape},
		{"add shapes", func(b *Builder) Tensor {
			x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
			return b.Add(x, b.View(x, 0, 2))
		}, ErrShape},
		{"rope heads", func(b *Builder) Tensor {
			return b.Rope(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), &Rope{HeadDim: 3, Dims: 2, Freqs: []float64{1}})
		}, ErrShape},
		{"rope frequencies", func(b *Builder) Tensor {
			return b.Rope(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), &Rope{HeadDim: 4, Dims: 4, Freqs: []float64{1}})
		}, ErrShape},
		{"attention heads", func(b *Builder) Tensor {
			x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
			return b.Attention(x, b.StoreKV(0, x, x), &Attention{Heads: 2, KVHeads: 1, HeadDim: 4}, 1)
		}, ErrShape},
		{"soft_cap of 0", func(b *Builder) Tensor { return b.SoftCap(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), 0) }, ErrShape},
		{"view range", func(b *Builder) Tensor { return b.View(b.GetRows(b.Weight("embd", 4, 3), b.Tokens()), 3, 2) }, ErrShape},
		{"result not per output", func(b *Builder) Tensor { return b.GetRows(b.Weight("embd", 4, 3), b.Tokens()) }, ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(f, BatchShape{Tokens: 2, Outputs: 1})
			_, err := b.Finish(tc.build(b))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Finish: %v, want %v", err, tc.want)
			}
		})
	}
}

// moeFile holds embeddings of 4, a router over 3 experts and expert
// stacks of a one-wide hidden layer, so each expert's output is a
// column of down scaled by silu(gate·x)·(up·x).
func moeFile(t *testing.T) *gguf.File {
	return testFile(t, map[string]tensorSpec{
		"embd":   {[]uint64{4, 3}, []float32{1, 2, 3, 4, -1, 0, 1, 0, 0.5, 0.5, 0.5, 0.5}},
		"router": {[]uint64{4, 3}, []float32{0.1, 0, 0, 0, 0, 0.3, 0, 0, -0.2, 0, 0.4, 0}},
		"gate":   {[]uint64{4, 1, 3}, []float32{1, 0, 0, 0, 0, 1, 0, 0, 0.5, 0, 0, 0.5}},
		"up":     {[]uint64{4, 1, 3}, []float32{0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0}},
		"down":   {[]uint64{1, 4, 3}, []float32{1, 2, 3, 4, -1, 0, 1, 0, 0, 0, 2, 0}},
	})
}

// moeWant computes OpMoE for the rows xs of moeFile in float64: softmax
// of the router's scores, the top used, renormalised when renorm.
func moeWant(used int, renorm bool, xs ...[]float64) []float32 {
	router := [][]float64{{0.1, 0, 0, 0}, {0, 0.3, 0, 0}, {-0.2, 0, 0.4, 0}}
	gate := [][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0.5, 0, 0, 0.5}}
	up := [][]float64{{0, 0, 0, 1}, {1, 1, 0, 0}, {0, 0, 1, 0}}
	down := [][]float64{{1, 2, 3, 4}, {-1, 0, 1, 0}, {0, 0, 2, 0}}
	dot := func(a, b []float64) (s float64) {
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	var out []float32
	for _, x := range xs {
		var probs []float64
		var sum float64
		for _, r := range router {
			probs = append(probs, math.Exp(dot(r, x)))
			sum += probs[len(probs)-1]
		}
		chosen := map[int]bool{}
		var ks []int
		var wsum float64
		for range used {
			best := -1
			for e := range probs {
				if !chosen[e] && (best < 0 || probs[e] > probs[best]) {
					best = e
				}
			}
			chosen[best], ks = true, append(ks, best)
			wsum += probs[best] / sum
		}
		row := make([]float64, 4)
		for _, e := range ks {
			w := probs[e] / sum
			if renorm {
				w /= wsum
			}
			g := dot(gate[e], x)
			h := g / (1 + math.Exp(-g)) * dot(up[e], x)
			for i := range row {
				row[i] += w * h * down[e][i]
			}
		}
		for _, v := range row {
			out = append(out, float32(v))
		}
	}
	return out
}

// TestReferenceMoE checks OpMoE against moeWant to 1e-5 (float32
// products and sums against float64).
func TestReferenceMoE(t *testing.T) {
	f := moeFile(t)
	batch := &Batch{Tokens: []int32{0, 1, 2}, Pos: []int32{0, 1, 2}, Output: []bool{true, true, true}}
	rows := [][]float64{{1, 2, 3, 4}, {-1, 0, 1, 0}, {0.5, 0.5, 0.5, 0.5}}
	for _, tc := range []struct {
		used   int
		renorm bool
	}{{1, false}, {2, true}, {2, false}, {3, true}} {
		t.Run(fmt.Sprintf("top%d renorm %v", tc.used, tc.renorm), func(t *testing.T) {
			b := NewBuilder(f, batch.Shape())
			x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
			m := &MoE{Experts: 3, Used: tc.used, Renorm: tc.renorm}
			out := b.MoE(x, b.MatMul(b.Weight("router", 4, 3), x, Tensor{}), b.Experts("gate", 4, 1, 3), b.Experts("up", 4, 1, 3), b.Experts("down", 1, 4, 3), m)
			g, err := b.Finish(b.Outputs(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewReference(g.Cache, 4).Run(g, batch)
			if err != nil {
				t.Fatal(err)
			}
			want := moeWant(tc.used, tc.renorm, rows...)
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5 {
					t.Fatalf("got %v\nwant %v", got, want)
				}
			}
		})
	}
}

// TestBuilderMoEShapes: MoE and Experts refuse operands that do not fit.
func TestBuilderMoEShapes(t *testing.T) {
	f := moeFile(t)
	moe := func(b *Builder, m *MoE, down Tensor) Tensor {
		x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
		return b.MoE(x, b.MatMul(b.Weight("router", 4, 3), x, Tensor{}), b.Experts("gate", 4, 1, 3), b.Experts("up", 4, 1, 3), down, m)
	}
	tests := []struct {
		name  string
		build func(b *Builder) Tensor
	}{
		{"2-D as experts", func(b *Builder) Tensor { return b.Experts("router", 4, 1, 3) }},
		{"experts as 2-D", func(b *Builder) Tensor { return b.Weight("gate", 4, 3) }},
		{"expert count", func(b *Builder) Tensor { return b.Experts("gate", 4, 3, 1) }},
		{"more used than experts", func(b *Builder) Tensor {
			return moe(b, &MoE{Experts: 3, Used: 4}, b.Experts("down", 1, 4, 3))
		}},
		{"router width", func(b *Builder) Tensor {
			return moe(b, &MoE{Experts: 2, Used: 1}, b.Experts("down", 1, 4, 3))
		}},
		{"down is not a stack", func(b *Builder) Tensor {
			return moe(b, &MoE{Experts: 3, Used: 1}, b.Weight("embd", 4, 3))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(f, BatchShape{Tokens: 2, Outputs: 1})
			_, err := b.Finish(tc.build(b))
			if !errors.Is(err, ErrShape) {
				t.Fatalf("Finish: %v, want %v", err, ErrShape)
			}
		})
	}
}

// TestReferencePages: sequences kept in pages scattered over the cache
// attend exactly as the same sequences kept from base cells.
func TestReferencePages(t *testing.T) {
	f := tiny(t)
	// Sequence 0 runs past a page boundary (positions 14..17 of 18),
	// sequence 1 stays in its first page.
	var tokens, pos, seq []int32
	for p := range 18 {
		tokens, pos, seq = append(tokens, int32(p%3)), append(pos, int32(p)), append(seq, 0)
	}
	for p := range 5 {
		tokens, pos, seq = append(tokens, int32((p+1)%3)), append(pos, int32(p)), append(seq, 1)
	}
	run := func(base []int32, pages [][]int32) []float32 {
		t.Helper()
		batch := &Batch{Tokens: tokens, Pos: pos, Seq: seq, Base: base, Pages: pages, Output: make([]bool, len(tokens))}
		for i := range batch.Output {
			batch.Output[i] = true
		}
		b := NewBuilder(f, batch.Shape())
		x := b.GetRows(b.Weight("embd", 4, 3), b.Tokens())
		a := &Attention{Heads: 1, KVHeads: 1, HeadDim: 4, Causal: true}
		g, err := b.Finish(b.Outputs(b.Attention(x, b.StoreKV(0, x, x), a, 0.5)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewReference(g.Cache, 6*PageCells).Run(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := run([]int32{0, 2 * PageCells}, nil)
	for _, pages := range [][][]int32{{{4, 1}, {3}}, {{0, 1}, {5}}, {{5, 2}, {0}}} {
		if got := run(nil, pages); !slices.Equal(got, want) {
			t.Errorf("pages %v: got %v\nwant %v", pages, got, want)
		}
	}
}

// TestKeyRuns: the keys of a paged sequence come as runs of consecutive
// cells, adjacent pages merged; a bad page table is refused.
func TestKeyRuns(t *testing.T) {
	causal := &Attention{Causal: true}
	tests := []struct {
		pages [][]int32
		pos   int32
		want  []CellRun
	}{
		{[][]int32{{2}}, 5, []CellRun{{Pos: 0, Cell: 2 * PageCells, Len: 6}}},
		{[][]int32{{2, 0}}, PageCells + 1, []CellRun{{Pos: 0, Cell: 2 * PageCells, Len: PageCells}, {Pos: PageCells, Cell: 0, Len: 2}}},
		{[][]int32{{0, 1, 3}}, 2*PageCells + 2, []CellRun{{Pos: 0, Cell: 0, Len: 2 * PageCells}, {Pos: 2 * PageCells, Cell: 3 * PageCells, Len: 3}}},
	}
	for _, tt := range tests {
		b := &Batch{Tokens: []int32{0}, Pos: []int32{tt.pos}, Pages: tt.pages}
		if err := b.CheckCells(4 * PageCells); err != nil {
			t.Fatal(err)
		}
		if got := b.KeyRuns(0, causal, nil); !slices.Equal(got, tt.want) {
			t.Errorf("pages %v, position %d: got %v, want %v", tt.pages, tt.pos, got, tt.want)
		}
	}
	for _, b := range []*Batch{
		{Tokens: []int32{0}, Pos: []int32{PageCells}, Pages: [][]int32{{0}}},          // past its pages
		{Tokens: []int32{0}, Pos: []int32{0}, Pages: [][]int32{{4}}},                  // page outside the cache
		{Tokens: []int32{0}, Pos: []int32{0}, Pages: [][]int32{{0}, {-1}}},            // another sequence's bad page
		{Tokens: []int32{0}, Pos: []int32{0}, Seq: []int32{1}, Pages: [][]int32{{0}}}, // no table
	} {
		if err := b.CheckCells(4 * PageCells); !errors.Is(err, ErrBatch) {
			t.Errorf("%+v: got %v, want ErrBatch", b, err)
		}
	}
}
