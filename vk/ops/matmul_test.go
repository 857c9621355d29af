package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/vk"
)

// productTypes are the weight types of the matmul tests, each with a row
// length of whole sub-blocks (the matmul shader's requirement).
var productTypes = []struct {
	typ  gguf.Type
	cols int
}{
	{gguf.TypeF32, 96}, {gguf.TypeF16, 96}, {gguf.TypeBF16, 64},
	{gguf.TypeQ8_0, 224}, {gguf.TypeQ4_0, 224}, {gguf.TypeQ4_1, 96}, {gguf.TypeQ5_0, 160}, {gguf.TypeQ5_1, 96},
	{gguf.TypeQ4_K, 512}, {gguf.TypeQ5_K, 256}, {gguf.TypeQ6_K, 768}, {gguf.TypeQ2_K, 512}, {gguf.TypeQ3_K, 768},
	{gguf.TypeIQ4_NL, 160}, {gguf.TypeIQ4_XS, 512},
}

// tileSets are the tiles the matmul shader is tested with on the test
// device: what TilesFor picks for CPU devices with 8-wide subgroups and
// for GPUs, one invocation per row, and one with every constant
// different, so the indexing cannot lean on equal sizes.
var tileSets = []struct {
	name  string
	tiles Tiles
}{
	{"cpu", Tiles{BM: 64, BN: 32, TM: 8, TN: 16, KB: 2}},
	{"row", Tiles{BM: 8, BN: 32, TM: 1, TN: 32, KB: 4}},
	{"gpu", Tiles{BM: 64, BN: 32, TM: 4, TN: 4, KB: 2}},
	{"odd", Tiles{BM: 16, BN: 12, TM: 2, TN: 3, KB: 3}},
}

// TestMatMul holds the tiled product of every type to the dequantized
// float64 product, within TestMatVec's bound (matvecTol of the sum of
// |w*x| per output), for batches that fill a tile partly, once and over
// several tiles, with a bias, an output offset and accumulation. The
// shader has one build (it uses no subgroup operations, see
// shaders.TestCapabilities), so Kernels.Subgroups does not change what runs.
func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	h := newHarness(t, 64, false)
	h.k.TiledFrom = 1
	for ti, ts := range tileSets {
		h.k.Tiles = ts.tiles
		for _, tc := range productTypes {
			// The "odd" tiles run on a few types: the tiling does not
			// depend on the type.
			if ti >= 2 && tc.typ != gguf.TypeQ4_K && tc.typ != gguf.TypeF16 && tc.typ != gguf.TypeQ8_0 {
				continue
			}
			for _, n := range []int{9, 40, 67} {
				name := fmt.Sprintf("%s/n%d/%s", tc.typ, n, ts.name)
				const rows, yOff = 37, 3
				wdata := randomWeights(t, r, tc.typ, rows, tc.cols)
				w, err := h.k.Upload(name, tc.typ, rows, tc.cols, wdata)
				if err != nil {
					t.Fatal(err)
				}
				x := randFloats(r, n*tc.cols, 1)
				bias := randFloats(r, rows, 0.5)
				y0 := randFloats(r, n*rows+yOff, 1)
				xb, yb, bb := h.floats(x), h.floats(y0), h.floats(bias)
				// Bound tiled directly: a GPU would bind its products to matvec.
				m, err := h.k.BindMatVec(h.sets, w, xb.All(), yb.All(), bb.All())
				if err != nil {
					t.Fatal(err)
				}
				if err := m.bindTiled(h.k, h.sets, xb.All(), yb.All(), bb.All()); err != nil {
					t.Fatal(err)
				}
				h.run(func(s *vk.Step) { m.Record(h.k, s, n, tc.cols, rows, yOff, true) })
				got := h.read(yb, n*rows+yOff)
				deq := make([]float32, rows*tc.cols)
				if err := quant.Dequantize(tc.typ, wdata, deq); err != nil {
					t.Fatal(err)
				}
				for i := range yOff {
					if got[i] != y0[i] {
						t.Fatalf("%s: y[%d] before the output changed", name, i)
					}
				}
				for b := range n {
					for row := range rows {
						o := yOff + b*rows + row
						want, mag := float64(y0[o])+float64(bias[row]), math.Abs(float64(y0[o]))
						for i := range tc.cols {
							p := float64(deq[row*tc.cols+i]) * float64(x[b*tc.cols+i])
							want += p
							mag += math.Abs(p)
						}
						if e := math.Abs(float64(got[o]) - want); !(e <= matvecTol*mag*math.Sqrt(float64(tc.cols))+1e-7) {
							t.Fatalf("%s: y[%d][%d] = %v, want %v (|w*x| sum %v)", name, b, row, got[o], want, mag)
						}
					}
				}
				w.Close()
			}
		}
	}
}

// TestBatchInvariance holds a product's output for one input to the same
// bits however it ran: alone (matvec's single-input path), in batches
// matvec takes (its batched path, with and without the z split of 16
// inputs) and in batches the matmul shader takes, with every tile set,
// on matvec's builds with and without subgroups. (On a GPU, whose products
// stay on matvec, it holds matvec's batches alone.)
func TestBatchInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	const rows, batch = 41, 64
	cols := []int{0, 5, 31, 63} // the inputs checked alone
	for _, sub := range []bool{true, false} {
		h := newHarness(t, 64, sub)
		if sub && !h.k.Dev.Info.SubgroupOps {
			continue
		}
		for _, tc := range productTypes {
			name := fmt.Sprintf("%s/subgroups=%v", tc.typ, sub)
			w, err := h.k.Upload(name, tc.typ, rows, tc.cols, randomWeights(t, r, tc.typ, rows, tc.cols))
			if err != nil {
				t.Fatal(err)
			}
			x := randFloats(r, batch*tc.cols, 1)
			xb := h.floats(x)
			// product returns the outputs of the first n inputs.
			product := func(n int, tiles Tiles, tiledFrom int) []float32 {
				h.k.Tiles, h.k.TiledFrom = tiles, tiledFrom
				yb := h.poisoned(n * rows)
				m, err := h.k.BindProduct(h.sets, w, xb.All(), yb.All(), vk.Range{}, n)
				if err != nil {
					t.Fatal(err)
				}
				// GPUs keep products on matvec (see Kernels.tiled).
				if want := tiledFrom > 0 && n >= tiledFrom && h.k.shortRows(tc.cols); (len(m.tiled) > 0) != want {
					t.Fatalf("%s: batch of %d bound tiled=%v", name, n, !want)
				}
				h.run(func(s *vk.Step) { m.Record(h.k, s, n, tc.cols, rows, 0, false) })
				return h.read(yb, n*rows)
			}
			alone := map[int][]float32{}
			for _, c := range cols {
				xc := h.floats(x[c*tc.cols : (c+1)*tc.cols])
				yb := h.poisoned(rows)
				m, err := h.k.BindProduct(h.sets, w, xc.All(), yb.All(), vk.Range{}, 1)
				if err != nil {
					t.Fatal(err)
				}
				h.run(func(s *vk.Step) { m.Record(h.k, s, 1, tc.cols, rows, 0, false) })
				alone[c] = h.read(yb, rows)
			}
			runs := []struct {
				label string
				y     []float32
			}{
				{"matvec n=6", product(6, tileSets[0].tiles, 0)},
				{"matvec n=64", product(batch, tileSets[0].tiles, 0)},
			}
			for i, ts := range tileSets {
				// The matmul shader has one build: the other tile sets run
				// once.
				if !sub && i > 0 {
					break
				}
				runs = append(runs,
					struct {
						label string
						y     []float32
					}{"matmul " + ts.name + " n=9", product(9, ts.tiles, 9)},
					struct {
						label string
						y     []float32
					}{"matmul " + ts.name + " n=64", product(batch, ts.tiles, 9)})
			}
			for _, run := range runs {
				for _, c := range cols {
					if c*rows >= len(run.y) {
						continue
					}
					for row := range rows {
						if a, b := alone[c][row], run.y[c*rows+row]; math.Float32bits(a) != math.Float32bits(b) {
							t.Fatalf("%s: %s: input %d row %d = %v (%#x), alone %v (%#x)", name, run.label, c, row, b, math.Float32bits(b), a, math.Float32bits(a))
						}
					}
				}
			}
			w.Close()
		}
	}
}

// TestTilesFor holds the chosen tiles to the device limits they are
// chosen from.
func TestTilesFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		info vk.Info
		want Tiles
	}{
		{"lavapipe", vk.Info{Type: vk.CPU, SubgroupSize: 8, MaxSharedMemory: 32768, MaxWorkgroupInvocations: 1024}, Tiles{64, 32, 8, 16, 2}},
		{"cpu 16 lanes", vk.Info{Type: vk.CPU, SubgroupSize: 16, MaxSharedMemory: 32768, MaxWorkgroupInvocations: 1024}, Tiles{128, 32, 8, 16, 1}},
		{"gpu", vk.Info{Type: vk.Discrete, SubgroupSize: 32, MaxSharedMemory: 49152, MaxWorkgroupInvocations: 1024}, Tiles{64, 32, 4, 4, 2}},
		{"gpu 16 KiB", vk.Info{Type: vk.Discrete, SubgroupSize: 32, MaxSharedMemory: 16384, MaxWorkgroupInvocations: 1024}, Tiles{64, 32, 4, 4, 1}},
		{"gpu 8 KiB", vk.Info{Type: vk.Discrete, SubgroupSize: 32, MaxSharedMemory: 8192, MaxWorkgroupInvocations: 1024}, Tiles{16, 32, 4, 4, 1}},
		{"gpu 64 invocations", vk.Info{Type: vk.Integrated, SubgroupSize: 16, MaxSharedMemory: 32768, MaxWorkgroupInvocations: 64}, Tiles{64, 16, 4, 4, 2}},
		{"no shared memory", vk.Info{Type: vk.Discrete, MaxSharedMemory: 0, MaxWorkgroupInvocations: 1024}, Tiles{}},
	} {
		got := TilesFor(tc.info)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if from, want := got.TiledFrom(), int(got.BN/2); from != want {
			t.Errorf("%s: tiled from %d inputs, want %d", tc.name, from, want)
		}
		if got != (Tiles{}) && (got.Shared() > tc.info.MaxSharedMemory || got.WG() > tc.info.MaxWorkgroupInvocations || !got.valid()) {
			t.Errorf("%s: %+v takes %d bytes and %d invocations", tc.name, got, got.Shared(), got.WG())
		}
	}
}
