package cpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
)

// TestErrors: batches and caches the executor cannot take are refused
// with the sentinel that says why, and an op's error names its node.
func TestErrors(t *testing.T) {
	f := opsFile(t)
	b := compute.NewBuilder(f, batch1.Shape())
	g, err := b.Finish(attention(compute.Attention{KVHeads: 4, Causal: true}, 1)(b))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cache compute.CacheShape
		batch *compute.Batch
		close bool
		want  error
		names string // in the message
	}{
		{"shape", g.Cache, &compute.Batch{Tokens: []int32{1}, Pos: []int32{0}}, false, compute.ErrBatch, ""},
		{"position past the cells", g.Cache, &compute.Batch{Tokens: batch1.Tokens, Pos: []int32{12, 13, 14, 15, 16}, Output: batch1.Output}, false, compute.ErrBatch, "16"},
		{"second sequence", g.Cache, &compute.Batch{Tokens: batch1.Tokens, Pos: batch1.Pos, Seq: []int32{0, 0, 1, 1, 1}, Output: batch1.Output}, false, compute.ErrBatch, "sequence 1"},
		{"sequence ids short", g.Cache, &compute.Batch{Tokens: batch1.Tokens, Pos: batch1.Pos, Seq: []int32{0, 0}, Output: batch1.Output}, false, compute.ErrBatch, "2 sequence ids"},
		{"negative position", g.Cache, &compute.Batch{Tokens: batch1.Tokens, Pos: []int32{-1, 0, 1, 2, 3}, Output: batch1.Output}, false, compute.ErrBatch, "position -1"},
		{"token outside the table", g.Cache, &compute.Batch{Tokens: []int32{3, 7, 16, 12, 5}, Pos: batch1.Pos, Output: batch1.Output}, false, compute.ErrBatch, `get_rows "get_rows"`},
		{"cache width", compute.CacheShape{Layers: 1, Width: 64, Type: gguf.TypeF16}, batch1, false, compute.ErrShape, ""},
		{"closed", g.Cache, batch1, true, ErrClosed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cache, testCells)
			if err != nil {
				t.Fatal(err)
			}
			if tc.close {
				e.Close()
			}
			_, err = e.Run(g, tc.batch)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("Run: %v, want %v naming %q", err, tc.want, tc.names)
			}
		})
	}
	// A type no KV cache stores; Q8_0 rows not whole blocks of 32.
	for _, c := range []compute.CacheShape{{Layers: 1, Width: 32, Type: gguf.TypeBF16}, {Layers: 1, Width: 48, Type: gguf.TypeQ8_0}} {
		if _, err := New(c, testCells); !errors.Is(err, compute.ErrKVType) {
			t.Errorf("New with a %s cache of width %d: %v, want ErrKVType", c.Type, c.Width, err)
		}
	}
	if _, err := New(g.Cache, 0); err == nil {
		t.Error("New with no cells succeeded")
	}
}
