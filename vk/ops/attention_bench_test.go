package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk"
)

// BenchmarkAttention runs the attention of a step of 128 prompt rows
// of bench-15m's shape (6 heads of 48 dimensions, an f16 cache) at
// positions 1,024 to 1,151, the middle of a 2,048-token prompt, with the
// device's workgroup and tiles of 1 to 16 workgroups' positions. It
// reports rows per second, of elapsed and of CPU time.
func BenchmarkAttention(b *testing.B) {
	const heads, hd, n, pos0 = 6, 48, 128, 1024
	def := New(vktest.Device(b))
	wg := def.AttentionWG
	def.Close()
	r := rand.New(rand.NewPCG(7, 8))
	for _, mul := range []uint32{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("wg=%d/tile=%d", wg, mul*wg), func(b *testing.B) {
			h := newHarness(b, wg, true)
			h.k.AttentionTile = mul * wg
			dim := heads * hd
			kraw, _ := packKV(b, gguf.TypeF16, dim, randFloats(r, (pos0+n)*dim, 1))
			vraw, _ := packKV(b, gguf.TypeF16, dim, randFloats(r, (pos0+n)*dim, 1))
			qb, kb, vb, ob := h.floats(randFloats(r, n*dim, 1)), h.bytes(kraw), h.bytes(vraw), h.poisoned(n*dim)
			op, err := h.k.BindAttention(h.sets, AttentionKind{Cache: gguf.TypeF16, HeadDim: hd}, qb.All(), kb.All(), vb.All(), ob.All(), benchRanges(h, n, pos0))
			if err != nil {
				b.Fatal(err)
			}
			sh := AttentionShape{N: n, Heads: heads, KVHeads: heads, QStride: dim, KVStride: dim, Pos0: pos0, PageCells: benchPage, Scale: 0.15}
			cpu0 := cpuTime(b)
			for b.Loop() {
				h.run(func(s *vk.Step) { op.Record(s, sh) })
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(b.N*n)/(cpuTime(b)-cpu0).Seconds(), "rows/cpu-s")
		})
	}
}

// cpuTime is the process's CPU time so far (lavapipe's threads
// included): on a shared machine it varies less than the elapsed time.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// benchPage is compute.PageCells, the executor's page.
const benchPage = 16

// benchRanges is what the executor gives rows pos0.. of one sequence:
// each row's key range (positions 0 to its own) and the sequence's page
// table, its pages in order.
func benchRanges(h *harness, n, pos0 int) vk.Range {
	pages := (pos0 + n + benchPage - 1) / benchPage
	r := make([]float32, 0, 3*n+pages)
	for b := range n {
		r = append(r, math.Float32frombits(0), math.Float32frombits(uint32(pos0+b+1)), math.Float32frombits(uint32(3*n)))
	}
	for j := range pages {
		r = append(r, math.Float32frombits(uint32(j*benchPage)))
	}
	return h.floats(r).All()
}
