package quant

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// f16 builds a little-endian half from a float exactly representable in f16.
func f16(x float32) []byte { return binary.LittleEndian.AppendUint16(nil, F32ToF16(x)) }

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func rep(b byte, n int) []byte { return slices.Repeat([]byte{b}, n) }

// TestDequantizeHandBlocks checks each type on a block built by hand, with
// the expected values worked out from the layout.
func TestDequantizeHandBlocks(t *testing.T) {
	q8 := make([]byte, 32)
	want8 := make([]float32, 32)
	for j := range q8 {
		q8[j] = byte(int8(j - 16))
		want8[j] = float32(j-16) * 0.5
	}
	nib := func(lo, hi byte) []byte { return rep(lo|hi<<4, 16) }
	fill := func(a, b float32) []float32 {
		out := make([]float32, 32)
		for j := range out {
			out[j] = a
			if j >= 16 {
				out[j] = b
			}
		}
		return out
	}
	// Q4_K: sub-block scales 1..8 and mins 0..7 (each < 16, so the packed
	// high bits stay zero except j >= 4, which go through byte j+4's nibbles).
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j], lm[j] = uint8(j+1), uint8(j)
	}
	scales := make([]byte, 12)
	packScalesK4(ls, lm, scales)
	q4k := cat(f16(0.5), f16(0.25), scales, rep(0x31, 128)) // low nibble 1, high 3
	var want4k []float32
	for j := range 8 {
		q := float32(1)
		if j%2 == 1 {
			q = 3
		}
		for range 32 {
			want4k = append(want4k, 0.5*float32(ls[j])*q-0.25*float32(lm[j]))
		}
	}
	// Q6_K: all q = 40 (low 8, high 2), scales 1..16, d = 0.25.
	sc6 := make([]byte, 16)
	for j := range sc6 {
		sc6[j] = byte(j + 1)
	}
	q6k := cat(rep(0x88, 128), rep(0xAA, 64), sc6, f16(0.25))
	var want6k []float32
	for n := range 2 {
		for k := range 4 { // element groups l, l+32, l+64, l+96
			for l := range 32 {
				_ = l
				want6k = append(want6k, 0.25*float32(8*n+2*k+l/16+1)*8)
			}
		}
	}
	// Q5_K: low nibbles 2, fifth bit set for the first 64's low half only.
	q5k := cat(f16(1), f16(0), scales, rep(0x01, 32), rep(0x22, 128))
	var want5k []float32
	for j := range 8 {
		q := float32(2)
		if j == 0 {
			q = 18
		}
		for range 32 {
			want5k = append(want5k, float32(ls[j])*q)
		}
	}
	tests := []struct {
		name string
		t    gguf.Type
		src  []byte
		want []float32
	}{
		{"Q8_0", gguf.TypeQ8_0, cat(f16(0.5), q8), want8},
		{"Q4_0", gguf.TypeQ4_0, cat(f16(2), nib(3, 12)), fill(-10, 8)},
		{"Q4_1", gguf.TypeQ4_1, cat(f16(2), f16(-1), nib(3, 12)), fill(5, 23)},
		{"Q5_0 high bits", gguf.TypeQ5_0, cat(f16(1), []byte{0xFF, 0xFF, 0, 0}, nib(1, 1)), fill(1, -15)},
		{"Q5_1 high bits", gguf.TypeQ5_1, cat(f16(1), f16(0.5), []byte{0, 0, 0xFF, 0xFF}, nib(1, 1)), fill(1.5, 17.5)},
		{"Q4_K", gguf.TypeQ4_K, q4k, want4k},
		{"Q5_K", gguf.TypeQ5_K, q5k, want5k},
		{"Q6_K", gguf.TypeQ6_K, q6k, want6k},
		{"F16", gguf.TypeF16, cat(f16(1.5), f16(-0.25)), []float32{1.5, -0.25}},
		{"BF16", gguf.TypeBF16, []byte{0xC0, 0x3F, 0x80, 0xBE}, []float32{1.5, -0.25}},
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

func TestDequantizeErrors(t *testing.T) {
	dst := make([]float32, 32)
	if err := Dequantize(gguf.TypeQ8_0, make([]byte, 33), dst); err == nil {
		t.Error("short source accepted")
	}
	if err := Dequantize(gguf.TypeQ8_0, make([]byte, 34), dst[:31]); err == nil {
		t.Error("partial block accepted")
	}
	if err := Dequantize(gguf.TypeIQ2_XXS, make([]byte, 66), make([]float32, 256)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("IQ2_XXS: %v, want ErrUnsupported", err)
	}
	if _, err := Quantize(gguf.TypeQ5_K, make([]float32, 256)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Quantize Q5_K: %v, want ErrUnsupported", err)
	}
}

func TestF16AllValues(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		back := F32ToF16(f)
		if f != f { // NaN: stays NaN
			if F16ToF32(back) == F16ToF32(back) {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("half %#04x → %v → %#04x", h, f, back)
		}
	}
	// Rounding to nearest even between two halves.
	if got := F32ToF16(1 + 1.0/2048); got != 0x3C00 {
		t.Errorf("1+2^-11 rounds to %#04x, want 0x3c00", got)
	}
	if got := F32ToF16(1 + 3.0/2048); got != 0x3C02 {
		t.Errorf("1+3*2^-11 rounds to %#04x, want 0x3c02", got)
	}
}

func relRMS(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}

// quantBounds is the relative RMS error each quantizer stays within on
// Gaussian data, with a margin over what was measured.
var quantBounds = map[gguf.Type]float64{
	gguf.TypeF32:  0,
	gguf.TypeF16:  0.001,
	gguf.TypeBF16: 0.004,
	gguf.TypeQ8_0: 0.01,
	gguf.TypeQ5_0: 0.06,
	gguf.TypeQ4_0: 0.12,
	gguf.TypeQ4_K: 0.10,
	gguf.TypeQ6_K: 0.03,
}

func TestQuantizeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) + 0.1
	}
	for typ, bound := range quantBounds {
		q, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, q, y); err != nil {
			t.Fatal(err)
		}
		e := relRMS(y, x)
		t.Logf("%s: relative RMS error %.5f (bound %.4f)", typ, e, bound)
		if e > bound || (bound == 0 && e != 0) {
			t.Errorf("%s: relative RMS error %.4f > %.4f", typ, e, bound)
		}
	}
}

// TestRealTensors dequantizes every tensor of the mixed-type MiniLM model
// and re-quantizes each to its own type where a quantizer exists.
func TestRealTensors(t *testing.T) {
	f, err := gguf.Open(testmodels.Model(t, "embed/all-MiniLM-L6-v2-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[gguf.Type]int{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		y := make([]float32, ti.Elements())
		if err := Dequantize(ti.Type, f.TensorData(ti), y); err != nil {
			t.Fatalf("%s: %v", ti.Name, err)
		}
		for _, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e4 {
				t.Fatalf("%s (%s): implausible value %v", ti.Name, ti.Type, v)
			}
		}
		seen[ti.Type]++
		if !CanQuantize(ti.Type) {
			continue
		}
		q, err := Quantize(ti.Type, y)
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float32, len(y))
		if err := Dequantize(ti.Type, q, z); err != nil {
			t.Fatal(err)
		}
		if e := relRMS(z, y); testing.Verbose() && i < 12 || e > quantBounds[ti.Type] {
			t.Logf("%s (%s): requantized relative RMS error %.5f", ti.Name, ti.Type, e)
		}
		if e := relRMS(z, y); e > quantBounds[ti.Type] {
			t.Errorf("%s (%s): requantized relative RMS error %.4f > %.4f", ti.Name, ti.Type, e, quantBounds[ti.Type])
		}
		// Q8_0 reproduces ggml's bytes exactly: every block's largest
		// element maps back to ±127 with the same f16 scale.
		if ti.Type == gguf.TypeQ8_0 && !slices.Equal(q, f.TensorData(ti)) {
			t.Errorf("%s: Q8_0 requantization changed bytes", ti.Name)
		}
	}
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		if seen[typ] == 0 {
			t.Errorf("no %s tensor was checked", typ)
		}
	}
}

func BenchmarkDequantize(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 4096*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, len(x))
	for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		q, _ := Quantize(typ, x)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(int64(len(x) * 4))
			for i := 0; i < b.N; i++ {
				_ = Dequantize(typ, q, y)
			}
		})
	}
}
