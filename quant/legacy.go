package quant

import (
	"encoding/binary"
	"math"
)

// The "legacy" 32-element block types. Every block starts with its f16
// scale d (and, for the _1 types, an f16 minimum m):
//
//	Q4_0 (18 bytes): d, qs[16]          x = (nibble - 8) * d
//	Q4_1 (20 bytes): d, m, qs[16]       x = nibble * d + m
//	Q5_0 (22 bytes): d, qh[4], qs[16]   x = (nibble | high bit << 4 - 16) * d
//	Q5_1 (24 bytes): d, m, qh[4], qs[16] x = (nibble | high bit << 4) * d + m
//	Q8_0 (34 bytes): d, qs[32] int8      x = q * d
//
// Byte j of qs holds element j in its low nibble and element j+16 in its
// high nibble; bit j of the little-endian uint32 qh is element j's fifth bit.
const QK = 32

func f16At(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

func dequantQ4_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*18:], dst[i*QK:]
		d := f16At(b)
		for j := range 16 {
			y[j] = float32(int(b[2+j]&0xF)-8) * d
			y[j+16] = float32(int(b[2+j]>>4)-8) * d
		}
	}
}

func dequantQ4_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*20:], dst[i*QK:]
		d, m := f16At(b), f16At(b[2:])
		for j := range 16 {
			y[j] = float32(b[4+j]&0xF)*d + m
			y[j+16] = float32(b[4+j]>>4)*d + m
		}
	}
}

func dequantQ5_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*22:], dst[i*QK:]
		d := f16At(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		for j := range 16 {
			lo := int(b[6+j]&0xF) | int((qh>>j)&1)<<4
			hi := int(b[6+j]>>4) | int((qh>>(j+16))&1)<<4
			y[j] = float32(lo-16) * d
			y[j+16] = float32(hi-16) * d
		}
	}
}

func dequantQ5_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*24:], dst[i*QK:]
		d, m := f16At(b), f16At(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		for j := range 16 {
			lo := int(b[8+j]&0xF) | int((qh>>j)&1)<<4
			hi := int(b[8+j]>>4) | int((qh>>(j+16))&1)<<4
			y[j] = float32(lo)*d + m
			y[j+16] = float32(hi)*d + m
		}
	}
}

func dequantQ8_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*34:], dst[i*QK:]
		d := f16At(b)
		for j := range QK {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

// quantQ8_0 follows ggml's reference: d = max|x| / 127, q = round(x / d).
func quantQ8_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/QK; i++ {
		x, b := src[i*QK:(i+1)*QK], dst[i*34:]
		var amax float32
		for _, v := range x {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		for j, v := range x {
			b[2+j] = byte(int8(roundAway(v * id)))
		}
	}
}

// signedMax returns the element of largest magnitude, with its sign.
func signedMax(x []float32) float32 {
	var amax, m float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, m = a, v
		}
	}
	return m
}

// quantQ4_0 follows ggml's reference: the largest-magnitude element maps to
// -8 exactly, so d = max / -8.
func quantQ4_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/QK; i++ {
		x, b := src[i*QK:(i+1)*QK], dst[i*18:]
		d := signedMax(x) / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		for j := range 16 {
			q0 := min(15, int(x[j]*id+8.5))
			q1 := min(15, int(x[j+16]*id+8.5))
			b[2+j] = byte(q0) | byte(q1)<<4
		}
	}
}

// quantQ5_0 follows ggml's reference: d = max / -16.
func quantQ5_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/QK; i++ {
		x, b := src[i*QK:(i+1)*QK], dst[i*22:]
		d := signedMax(x) / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, d)
		var qh uint32
		for j := range 16 {
			q0 := min(31, int(x[j]*id+16.5))
			q1 := min(31, int(x[j+16]*id+16.5))
			b[6+j] = byte(q0&0xF) | byte(q1&0xF)<<4
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// roundAway rounds half away from zero, as C's roundf.
func roundAway(x float32) float32 { return float32(math.Round(float64(x))) }

// nearestInt rounds half to even, as ggml's nearest_int.
func nearestInt(x float32) int { return int(math.RoundToEven(float64(x))) }
