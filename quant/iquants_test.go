package quant

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// iq4Codes is 16 bytes whose low nibbles count up 0..15 and high nibbles
// down 15..0: element j of a 32-block takes level j, element j+16 level
// 15-j, so every level appears in both halves.
func iq4Codes() []byte {
	b := make([]byte, 16)
	for j := range b {
		b[j] = byte(j) | byte(15-j)<<4
	}
	return b
}

// TestDequantizeIQ4HandBlocks checks IQ4_NL and IQ4_XS on blocks built by
// hand, exactly: every product below is exact in float32.
func TestDequantizeIQ4HandBlocks(t *testing.T) {
	level := func(j int) float32 {
		if j < 16 {
			return float32(KValuesIQ4NL[j])
		}
		return float32(KValuesIQ4NL[31-j])
	}
	nl := cat(f16(0.5), iq4Codes())
	var wantNL []float32
	for j := range 32 {
		wantNL = append(wantNL, 0.5*level(j))
	}
	// IQ4_XS sub-block scales ls = 0, 63, 32, 33, 16, 47, 1, 62: both
	// ends of the 6-bit range, zero after the offset, and every value of
	// the two high bits. Low nibbles 0,F,0,1,0,F,1,E pair into scales_l;
	// high bits 0,3,2,2,1,2,0,3 (two per sub-block, sub-block 0 lowest)
	// make scales_h 0xC9AC.
	ls := []int{0, 63, 32, 33, 16, 47, 1, 62}
	xs := cat(f16(0.25), binary.LittleEndian.AppendUint16(nil, 0xC9AC), []byte{0xF0, 0x10, 0xF0, 0xE1})
	var wantXS []float32
	for s := range 8 {
		xs = append(xs, iq4Codes()...)
		for j := range 32 {
			wantXS = append(wantXS, 0.25*float32(ls[s]-32)*level(j))
		}
	}
	for _, tc := range []struct {
		typ  gguf.Type
		src  []byte
		want []float32
	}{{gguf.TypeIQ4_NL, nl, wantNL}, {gguf.TypeIQ4_XS, xs, wantXS}} {
		if len(tc.src) != tc.typ.TypeSize() {
			t.Fatalf("%s: hand block of %d bytes, want %d", tc.typ, len(tc.src), tc.typ.TypeSize())
		}
		got := make([]float32, len(tc.want))
		if err := Dequantize(tc.typ, tc.src, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: element %d = %v, want %v", tc.typ, i, got[i], tc.want[i])
			}
		}
	}
}

// iq4Element is element e of an IQ4_NL or IQ4_XS row read straight from
// the layout, one element at a time, in float64.
func iq4Element(typ gguf.Type, row []byte, e int) float64 {
	j := e % 32
	shift := 4 * (j / 16)
	if typ == gguf.TypeIQ4_NL {
		b := row[e/32*18:]
		code := b[2+j%16] >> shift & 0xF
		return float64(F16ToF32(binary.LittleEndian.Uint16(b))) * float64(KValuesIQ4NL[code])
	}
	b := row[e/256*136:]
	s := e % 256 / 32
	lo := int(b[4+s/2]) >> (4 * (s % 2)) & 0xF
	hi := int(binary.LittleEndian.Uint16(b[2:])) >> (2 * s) & 3
	code := b[8+16*s+j%16] >> shift & 0xF
	return float64(F16ToF32(binary.LittleEndian.Uint16(b))) * float64(lo|hi<<4-32) * float64(KValuesIQ4NL[code])
}

// TestIQ4RealTensors dequantizes every tensor of the IQ4_NL and IQ4_XS
// llama3 files (which mix in Q5_K and Q6_K tensors) and holds each IQ4
// value to iq4Element's within one float32 rounding (2^-24 relative):
// the level times d·(ls−32), both exact, is rounded once.
func TestIQ4RealTensors(t *testing.T) {
	for _, name := range []string{"llama3-IQ4_NL", "llama3-IQ4_XS"} {
		f, err := gguf.Open(testmodels.Model(t, "arch/"+name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[gguf.Type]int{}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			data := f.TensorData(ti)
			y := make([]float32, ti.Elements())
			if err := Dequantize(ti.Type, data, y); err != nil {
				t.Fatalf("%s %s: %v", name, ti.Name, err)
			}
			seen[ti.Type]++
			for e, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s %s (%s): element %d = %v", name, ti.Name, ti.Type, e, v)
				}
				if ti.Type != gguf.TypeIQ4_NL && ti.Type != gguf.TypeIQ4_XS {
					continue
				}
				if want := iq4Element(ti.Type, data, e); math.Abs(float64(v)-want) > math.Abs(want)*0x1p-24 {
					t.Fatalf("%s %s (%s): element %d = %v, want %v", name, ti.Name, ti.Type, e, v, want)
				}
			}
		}
		t.Logf("%s: tensors per type %v", name, seen)
		if seen[gguf.TypeIQ4_NL]+seen[gguf.TypeIQ4_XS] == 0 {
			t.Errorf("%s: no IQ4 tensors", name)
		}
		f.Close()
	}
}
