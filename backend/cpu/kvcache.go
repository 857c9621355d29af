package cpu

import (
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/quant"
)

// kvRows is one layer's keys or values: a row of the cache's Width
// values a cell, stored as the cache's type (compute.KVTypes) in the
// slice of that type.
type kvRows struct {
	f32 []float32 // F32
	f16 []uint16  // F16: IEEE half bits
	q8  []byte    // Q8_0: ggml's blocks (f16 scale, 32 int8), RowBytes a cell
}

func newKVRows(c compute.CacheShape, cells int) kvRows {
	switch c.Type {
	case gguf.TypeF16:
		return kvRows{f16: make([]uint16, cells*c.Width)}
	case gguf.TypeQ8_0:
		return kvRows{q8: make([]byte, cells*c.RowBytes())}
	}
	return kvRows{f32: make([]float32, cells*c.Width)}
}

// grown returns r with room for cells cells of shape c, its rows kept.
func (r kvRows) grown(c compute.CacheShape, cells int) kvRows {
	g := newKVRows(c, cells)
	copy(g.f32, r.f32)
	copy(g.f16, r.f16)
	copy(g.q8, r.q8)
	return g
}

// store keeps row x (Width values) at cell c: rounded to f16 or
// quantized per block of 32 (quant's Q8_0, as compute.Reference keeps
// them) as the type keeps them.
func (r *kvRows) store(c int, x []float32) error {
	w := len(x)
	switch {
	case r.f16 != nil:
		kernels.ToF16(r.f16[c*w:][:w], x, false)
	case r.q8 != nil:
		rb := w / 32 * 34
		return quant.QuantizeTo(gguf.TypeQ8_0, x, r.q8[c*rb:][:rb])
	default:
		copy(r.f32[c*w:][:w], x)
	}
	return nil
}

// gather writes, for each cell of the runs, its values [off, off+hd) of
// a row of w as float32 to dst, hd floats a cell in run order (the
// generic path: soft-capped scores, a Q8_0 cache).
func (r *kvRows) gather(dst []float32, w, off, hd int, runs []kernels.Run) {
	switch {
	case r.f16 != nil:
		kernels.GatherHalf(dst, r.f16[off:], w, hd, runs, false)
	case r.q8 != nil:
		kernels.GatherQ8_0(dst, r.q8, w/32*34, off, hd, runs, false)
	default:
		for _, run := range runs {
			for c := run.Row; c < run.Row+run.Len; c++ {
				copy(dst[:hd], r.f32[c*w+off:][:hd])
				dst = dst[hd:]
			}
		}
	}
}
