package compute

import (
	"encoding/binary"
	"errors"
	"math"
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
