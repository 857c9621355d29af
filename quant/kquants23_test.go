package quant

import (
	"math"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// packScalesK3 is the inverse of ScalesK3 for sixteen 6-bit values
// (before the −32).
func packScalesK3(ls [16]uint8) []byte {
	out := make([]byte, 12)
	for s, v := range ls {
		out[s%8] |= (v & 0xF) << (4 * (s / 8))
		out[8+s%4] |= (v >> 4) << (2 * (s / 4))
	}
	return out
}

// TestDequantizeQ23KHandBlocks checks Q2_K and Q3_K on blocks built by
// hand, the expected values worked out from the layout; exact equality
// (every product is of small integers and powers of two).
func TestDequantizeQ23KHandBlocks(t *testing.T) {
	// Q2_K: sub-block s has scale s (low nibble) and min 15−s; byte 0xE4
	// holds q = 0, 1, 2, 3 for groups j = 0..3 of each half.
	sc2 := make([]byte, 16)
	for s := range sc2 {
		sc2[s] = byte(s) | byte(15-s)<<4
	}
	q2k := cat(sc2, rep(0xE4, 64), f16(0.5), f16(0.25))
	var want2k []float32
	for g := range 8 {
		for l := range 32 {
			s := 2*g + l/16
			want2k = append(want2k, 0.5*float32(s)*float32(g%4)-0.25*float32(15-s))
		}
	}
	// Q3_K: scales 6-bit values 4s+1 (every packed field used, 61 the
	// largest); low bits 0xE4 as in Q2_K; hmask bit g set for even g only,
	// so odd groups take the −4 offset.
	var ls [16]uint8
	for s := range ls {
		ls[s] = uint8(4*s + 1)
	}
	q3k := cat(rep(0x55, 32), rep(0xE4, 64), packScalesK3(ls), f16(0.25))
	var want3k []float32
	for g := range 8 {
		for l := range 32 {
			q := g % 4
			if g%2 == 1 {
				q -= 4
			}
			want3k = append(want3k, 0.25*float32(int(ls[2*g+l/16])-32)*float32(q))
		}
	}
	tests := []struct {
		name string
		t    gguf.Type
		src  []byte
		want []float32
	}{
		{"Q2_K", gguf.TypeQ2_K, q2k, want2k},
		{"Q3_K", gguf.TypeQ3_K, q3k, want3k},
	}
	for _, tc := range tests {
		got := make([]float32, len(tc.want))
		if err := Dequantize(tc.t, tc.src, got); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

// refQ2_K and refQ3_K follow ggml's dequantize_row_q2_K/q3_K statement by
// statement (a pointer walking the output, a running scale index, mask and
// shift; Q3_K's scales unpacked through ggml's 32-bit masks), independent
// of the group-indexed loops above.
func refQ2_K(b []byte, y []float32) {
	d, dmin := f16At(b[80:]), f16At(b[82:])
	q, is, o := b[16:], 0, 0
	for n := 0; n < QK_K; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for half := range 2 {
				sc := b[is]
				is++
				dl, ml := d*float32(sc&0xF), dmin*float32(sc>>4)
				for l := range 16 {
					y[o] = dl*float32(q[l+16*half]>>shift&3) - ml
					o++
				}
			}
		}
		q = q[32:]
	}
}

func refQ3_K(b []byte, y []float32) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	le := func(p []byte) uint32 { return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24 }
	aux := [4]uint32{le(b[96:]), le(b[100:]), le(b[104:])}
	tmp := aux[2]
	aux[2] = aux[0]>>4&kmask2 | (tmp>>4&kmask1)<<4
	aux[3] = aux[1]>>4&kmask2 | (tmp>>6&kmask1)<<4
	aux[0] = aux[0]&kmask2 | (tmp&kmask1)<<4
	aux[1] = aux[1]&kmask2 | (tmp>>2&kmask1)<<4
	scale := func(i int) int { return int(int8(aux[i/4] >> (8 * (i % 4)))) }
	d := f16At(b[108:])
	q, hm, is, o, m := b[32:], b[0:32], 0, 0, byte(1)
	for n := 0; n < QK_K; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for half := range 2 {
				dl := d * float32(scale(is)-32)
				is++
				for l := range 16 {
					v := int(q[l+16*half] >> shift & 3)
					if hm[l+16*half]&m == 0 {
						v -= 4
					}
					y[o] = dl * float32(v)
					o++
				}
			}
			m <<= 1
		}
		q = q[32:]
	}
}

// TestRealTensorsQ23K dequantizes every Q2_K and Q3_K tensor of the
// llama3 Q2_K and Q3_K_M models (there is no f32 original to compare
// with) and requires, bit for bit, the values of ggml's formula as
// refQ2_K/refQ3_K write it, all finite.
func TestRealTensorsQ23K(t *testing.T) {
	refs := map[gguf.Type]func(b []byte, y []float32){gguf.TypeQ2_K: refQ2_K, gguf.TypeQ3_K: refQ3_K}
	seen := map[gguf.Type]int{}
	for _, name := range []string{"arch/llama3-Q2_K.gguf", "arch/llama3-Q3_K_M.gguf"} {
		f, err := gguf.Open(testmodels.Model(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			ref, ok := refs[ti.Type]
			if !ok {
				continue
			}
			data := f.TensorData(ti)
			got := make([]float32, ti.Elements())
			if err := Dequantize(ti.Type, data, got); err != nil {
				t.Fatalf("%s %s: %v", name, ti.Name, err)
			}
			want := make([]float32, QK_K)
			bs := ti.Type.TypeSize()
			for blk := range len(got) / QK_K {
				ref(data[blk*bs:], want)
				for e, w := range want {
					g := got[blk*QK_K+e]
					if math.Float32bits(g) != math.Float32bits(w) || math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
						t.Fatalf("%s %s (%s) block %d element %d: %v, ggml's formula %v", name, ti.Name, ti.Type, blk, e, g, w)
					}
				}
			}
			seen[ti.Type]++
		}
		f.Close()
	}
	t.Logf("tensors checked: %d Q2_K, %d Q3_K", seen[gguf.TypeQ2_K], seen[gguf.TypeQ3_K])
	for typ := range refs {
		if seen[typ] == 0 {
			t.Errorf("no %s tensor was checked", typ)
		}
	}
}
