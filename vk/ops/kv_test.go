package ops

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/vk"
)

// packKV lays rows of width values out as a KV cache of type t keeps them
// (KVRowBytes): float32, f16 (quant.F32ToF16), or quant's Q8_0 blocks
// split into the quants, then the scales two a word. It returns the bytes
// and the values they stand for.
func packKV(t testing.TB, typ gguf.Type, width int, x []float32) ([]byte, []float32) {
	t.Helper()
	rb := KVRowBytes(typ, width)
	raw := make([]byte, len(x)/width*rb)
	stored := make([]float32, len(x))
	for r := range len(x) / width {
		row, out, vals := x[r*width:(r+1)*width], raw[r*rb:(r+1)*rb], stored[r*width:(r+1)*width]
		switch typ {
		case gguf.TypeF32:
			for i, v := range row {
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
			}
			copy(vals, row)
		case gguf.TypeF16:
			for i, v := range row {
				h := quant.F32ToF16(v)
				binary.LittleEndian.PutUint16(out[2*i:], h)
				vals[i] = quant.F16ToF32(h)
			}
		case gguf.TypeQ8_0:
			q, err := quant.Quantize(typ, row)
			if err != nil {
				t.Fatal(err)
			}
			if err := quant.Dequantize(typ, q, vals); err != nil {
				t.Fatal(err)
			}
			for b := range width / 32 {
				copy(out[32*b:], q[34*b+2:34*b+34])
				copy(out[width+2*b:], q[34*b:34*b+2])
			}
		}
	}
	return raw, stored
}

func (h *harness) bytes(raw []byte) *vk.Buffer {
	h.t.Helper()
	b, err := h.k.Dev.NewBuffer(uint64(max(len(raw), 4)), vk.DeviceLocal)
	if err != nil {
		h.t.Fatal(err)
	}
	h.bufs = append(h.bufs, b)
	if err := b.Write(0, raw); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// TestStoreKV: the store_kv shader writes each token's keys and values
// into its cell exactly as packKV lays them out (the CPU executor's and
// compute.Reference's f16 rounding and Q8_0 quantization, bit for bit,
// halves and block maxima included) and leaves other cells alone.
func TestStoreKV(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, path := range []struct {
		wg  uint32
		sub bool
	}{{64, true}, {8, false}} {
		h := newHarness(t, path.wg, path.sub)
		if _, err := h.k.BindStoreKV(h.sets, gguf.TypeF32, vk.Range{}, vk.Range{}, vk.Range{}, vk.Range{}, vk.Range{}); err == nil {
			t.Error("store_kv into an F32 cache bound")
		}
		for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeQ8_0} {
			for _, width := range []int{32, 64, 96, 256} {
				const n, cells, stride = 5, 12, 300
				src := [2][]float32{randFloats(r, n*stride, 2), randFloats(r, n*stride, 2)}
				// Values on q8_0 halves and f16 midpoints: x = (k+0.5)·max/127.
				for i := range width / 2 {
					src[0][i] = (float32(i%7) + 0.5) * src[0][width-1] / 127
				}
				at := []int{7, 2, 3, 11, 0} // token i's cell
				var cellIDs []float32
				for _, c := range at {
					cellIDs = append(cellIDs, math.Float32frombits(uint32(c)))
				}
				rb := KVRowBytes(typ, width)
				want := [2][]byte{bytes.Repeat([]byte{0xA5}, cells*rb), bytes.Repeat([]byte{0xA5}, cells*rb)}
				for side := range 2 {
					for i, c := range at {
						row, _ := packKV(t, typ, width, src[side][i*stride:i*stride+width])
						copy(want[side][c*rb:], row)
					}
				}
				kb, vb := h.floats(src[0]), h.floats(src[1])
				kc, vc := h.bytes(bytes.Repeat([]byte{0xA5}, cells*rb)), h.bytes(bytes.Repeat([]byte{0xA5}, cells*rb))
				op, err := h.k.BindStoreKV(h.sets, typ, kb.All(), vb.All(), kc.All(), vc.All(), h.floats(cellIDs).All())
				if err != nil {
					t.Fatal(err)
				}
				h.run(func(s *vk.Step) { op.Record(s, n, width, stride) })
				for side, buf := range []*vk.Buffer{kc, vc} {
					got := make([]byte, cells*rb)
					if err := buf.Read(0, got); err != nil {
						t.Fatal(err)
					}
					if i := firstDiff(got, want[side]); i >= 0 {
						t.Fatalf("%s width %d wg %d side %d: byte %d (cell %d) = %#x, want %#x", typ, width, path.wg, side, i, i/rb, got[i], want[side][i])
					}
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
