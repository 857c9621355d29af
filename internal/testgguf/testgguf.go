// Package testgguf writes GGUF files for tests: a model's variant, or
// tensors made up for one op.
package testgguf

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// Write writes b to a file in the test's temporary directory and opens it;
// the file is closed when the test ends.
func Write(t testing.TB, b *gguf.Builder) *gguf.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// MoE writes and opens a file for mixture-of-experts op tests:
// width-wide embeddings "embd" (16 rows, F32), an F32 "router" over
// experts, and "gate", "up" and "down" stacks of experts matrices of ff
// hidden values stored as typ, all with seeded random values in (-1, 1).
func MoE(t testing.TB, typ gguf.Type, width, ff, experts int) *gguf.File {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 1))
	b := gguf.NewBuilder()
	b.SetString("general.architecture", "test")
	add := func(name string, typ gguf.Type, dims ...uint64) {
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = rng.Float32()*2 - 1
		}
		data, err := quant.Quantize(typ, vals)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddTensor(name, typ, dims, data); err != nil {
			t.Fatal(err)
		}
	}
	w, f, e := uint64(width), uint64(ff), uint64(experts)
	add("embd", gguf.TypeF32, w, 16)
	add("router", gguf.TypeF32, w, e)
	add("gate", typ, w, f, e)
	add("up", typ, w, f, e)
	add("down", typ, f, w, e)
	return Write(t, b)
}
