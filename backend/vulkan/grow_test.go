package vulkan

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// twin runs one sequence's steps on two executors and holds their
// results to the same bits.
type twin struct {
	t      *testing.T
	m      *llama.Model
	a, b   *Executor
	graphs map[compute.BatchShape]*compute.Graph
	pages  []int32
	smps   [2]*sampling.Sampler
}

// growPrompt is the sequence's prompt: 40 tokens, over pages 2, 0 and
// half of 1 of a 48-cell cache, so that the layout a growth keeps is not
// the cells' order.
var growPrompt = func() []int32 {
	p := make([]int32, 40)
	for i := range p {
		p[i] = int32(1 + (i*37)%400)
	}
	return p
}()

func newTwin(t *testing.T, k *ops.Kernels, m *llama.Model, kv string, cellsA, cellsB int) *twin {
	t.Helper()
	typ, err := compute.ParseKVType(kv)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWeights(k)
	t.Cleanup(w.Close)
	tw := &twin{t: t, m: m, graphs: map[compute.BatchShape]*compute.Graph{}, pages: []int32{2, 0, 1}}
	c := tw.graph(compute.BatchShape{Tokens: 1, Outputs: 1}).Cache
	c.Type = typ
	for _, e := range []**Executor{&tw.a, &tw.b} {
		cells := cellsA
		if e == &tw.b {
			cells = cellsB
		}
		if *e, err = New(w, c, cells); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*e).Close() })
	}
	p := sampling.Defaults()
	p.Seed, p.RepeatPenalty = 11, 1.1 // a penalty: the samplers' history room is sized by the cells
	for i := range tw.smps {
		if tw.smps[i], err = sampling.New(p); err != nil {
			t.Fatal(err)
		}
	}
	return tw
}

func (tw *twin) graph(shape compute.BatchShape) *compute.Graph {
	tw.t.Helper()
	if g, ok := tw.graphs[shape]; ok {
		return g
	}
	b := compute.NewBuilder(tw.m.File, shape)
	g, err := b.Finish(tw.m.Build(b))
	if err != nil {
		tw.t.Fatal(err)
	}
	tw.graphs[shape] = g
	return g
}

// batch is tokens from position pos, the last one an output.
func (tw *twin) batch(tokens []int32, pos int) *compute.Batch {
	b := &compute.Batch{Tokens: tokens, Pages: [][]int32{tw.pages}}
	for i := range tokens {
		b.Pos = append(b.Pos, int32(pos+i))
	}
	return b
}

// logits runs tokens from pos on both and fails unless their logits
// have the same bits.
func (tw *twin) logits(what string, tokens []int32, pos int) {
	tw.t.Helper()
	b := tw.batch(tokens, pos)
	g := tw.graph(b.Shape())
	want, err := tw.b.Run(g, b)
	if err != nil {
		tw.t.Fatalf("%s: %v", what, err)
	}
	want = append([]float32(nil), want...)
	got, err := tw.a.Run(g, b)
	if err != nil {
		tw.t.Fatalf("%s: %v", what, err)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			tw.t.Fatalf("%s: logit %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// draw runs tokens from pos on both, drawing on the device with each
// one's sampler, and returns the id, failing unless both drew it.
func (tw *twin) draw(what string, tokens []int32, pos int) int32 {
	tw.t.Helper()
	b := tw.batch(tokens, pos)
	g := tw.graph(b.Shape())
	var ids [2]int32
	for i, e := range []*Executor{tw.b, tw.a} {
		got, _, err := e.RunSample(g, b, []*sampling.Sampler{tw.smps[i]})
		if err != nil {
			tw.t.Fatalf("%s: %v", what, err)
		}
		ids[i] = got[0]
	}
	if ids[0] != ids[1] {
		tw.t.Fatalf("%s: drew %d, want %d", what, ids[1], ids[0])
	}
	return ids[0]
}

// decode runs steps decode steps from position pos, taking a page when
// a position needs one: logits compared on even steps, draws on odd
// ones (the drawn id is the next token).
func (tw *twin) decode(tok int32, pos, steps int, next func() int32) {
	tw.t.Helper()
	for s := range steps {
		if p := pos + s; p/compute.PageCells == len(tw.pages) {
			tw.pages = append(tw.pages, next())
		}
		if s%2 == 0 {
			tw.logits("decode", []int32{tok}, pos+s)
			tok = int32(7 + (s*29)%300)
			continue
		}
		tok = tw.draw("decode", []int32{tok}, pos+s)
	}
}

// TestGrow: a sequence whose prompt a 48-cell cache holds, in scattered
// pages, goes on after the cache grows to 96 cells into a page past the
// old ones, with logits and device draws of the same bits as on an
// executor of 96 cells from the start; on each KV cache type, and on a
// device whose memory is not mapped (the copies of discrete GPUs).
func TestGrow(t *testing.T) {
	k := opstest.Kernels(t)
	m := loadModel(t, "llama/stories260K.gguf")
	for _, tc := range []struct {
		name, kv string
		k        func() *ops.Kernels
	}{
		{"f16", "f16", func() *ops.Kernels { return k }},
		{"q8_0", "q8_0", func() *ops.Kernels { return k }},
		{"f32", "f32", func() *ops.Kernels { return k }},
		{"staging/f16", "f16", func() *ops.Kernels { return ops.New(vktest.StagingDevice(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := newTwin(t, tc.k(), m, tc.kv, 48, 96)
			tok := tw.draw("prompt", growPrompt, 0)
			if err := tw.a.Grow(96); err != nil {
				t.Fatal(err)
			}
			if tw.a.cells != 96 || len(tw.a.bound) != 0 || tw.a.samplers != nil {
				t.Fatalf("after Grow(96): %d cells, %d graphs and %d samplers bound", tw.a.cells, len(tw.a.bound), len(tw.a.samplers))
			}
			// Positions 40-47 in page 1, 48-55 in page 5 (cells 80-95).
			tw.decode(tok, len(growPrompt), 16, func() int32 { return 5 })
			// Growing to fewer cells than it holds changes nothing.
			if err := tw.a.Grow(64); err != nil || tw.a.cells != 96 {
				t.Errorf("Grow(64) of 96 cells: %v, %d cells", err, tw.a.cells)
			}
		})
	}
}

// TestGrowRefused: a growth the device's storage range cannot hold (a
// cache layer past it, or the page tables of a bound graph over that
// many cells: 4 bytes a page a token, past a Q8_0 row's bytes a cell
// from 4 rows' worth of tokens) is refused before anything changes, and
// the executor goes on at its old size with the same bits as one never
// asked to grow.
func TestGrowRefused(t *testing.T) {
	k := opstest.Kernels(t)
	m := loadModel(t, "llama/stories260K.gguf")
	limit := k.Dev.Info.MaxStorageBufferRange
	for _, tc := range []struct {
		name, kv string
		bind     bool // a graph whose page tables outgrow the range bound first
	}{
		{"layer", "f16", false},
		{"scratch", "q8_0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := newTwin(t, k, m, tc.kv, 48, 48)
			row := uint64(ops.KVRowBytes(tw.a.cache.Type, tw.a.cache.Width))
			cells := int(limit/row) + compute.PageCells // one page past the range
			want := "a cache layer of"
			if tc.bind {
				// The largest cache whose layers fit, and a graph whose
				// page tables over it do not (see planAttention).
				cells = int(limit / row)
				tokens := int(4*row) + 32
				if tables := uint64(4*tokens) * uint64(cells/compute.PageCells); tables <= limit {
					t.Fatalf("page tables of %d bytes fit the range of %d: nothing to refuse", tables, limit)
				}
				if _, err := tw.a.graph(tw.graph(compute.BatchShape{Tokens: tokens, Outputs: 1})); err != nil {
					t.Fatal(err)
				}
				want = fmt.Sprintf("a graph of %d tokens", tokens)
			}
			tok := tw.draw("prompt", growPrompt, 0)
			before := tw.a.keys[0]
			err := tw.a.Grow(cells)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "storage range") {
				t.Fatalf("Grow(%d) = %v, want a refusal naming %q and the storage range", cells, err, want)
			}
			if tw.a.cells != 48 || tw.a.keys[0] != before {
				t.Fatalf("after a refused growth: %d cells, layer 0's keys replaced %v", tw.a.cells, tw.a.keys[0] != before)
			}
			// Positions 40-47: the old cache's last page.
			tw.decode(tok, len(growPrompt), 8, func() int32 { t.Fatal("a page past the old cache"); return 0 })
		})
	}
}
