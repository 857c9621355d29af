package quant

import "encoding/binary"

// The 4-bit non-linear types. Their 4-bit codes index KValuesIQ4NL, a
// table of int8 levels spaced more finely near zero, where most weights
// lie:
//
//	IQ4_NL (18 bytes per 32): d, qs[16]    x = d · KValuesIQ4NL[code]
//	IQ4_XS (136 bytes per 256): d, scales_h (u16), scales_l[4], qs[128]
//	    sub-block s (32 elements, qs[16s:16s+16]) has the 6-bit scale
//	    ls = scales_l[s/2] nibble s%2 | (scales_h >> 2s & 3) << 4,
//	    x = d·(ls − 32) · KValuesIQ4NL[code]
//
// qs packs codes as Q4_0 does: byte j of a 32-element block holds element
// j in its low nibble and element j+16 in its high nibble.
var KValuesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// IQ4XSScale returns sub-block s's 6-bit scale minus 32 from an IQ4_XS
// block's scales_h and scales_l.
func IQ4XSScale(scalesH uint16, scalesL []byte, s int) int32 {
	ls := int32(scalesL[s/2]>>(4*(s%2))&0xF) | int32(scalesH>>(2*s)&3)<<4
	return ls - 32
}

func dequantIQ4_NL(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK; i++ {
		b, y := src[i*18:], dst[i*QK:]
		d := f16At(b)
		for j := range 16 {
			y[j] = d * float32(KValuesIQ4NL[b[2+j]&0xF])
			y[j+16] = d * float32(KValuesIQ4NL[b[2+j]>>4])
		}
	}
}

func dequantIQ4_XS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*136:], dst[i*QK_K:]
		d := f16At(b)
		h := binary.LittleEndian.Uint16(b[2:])
		for s := range 8 {
			dl := d * float32(IQ4XSScale(h, b[4:8], s))
			qs, ys := b[8+16*s:], y[32*s:]
			for j := range 16 {
				ys[j] = dl * float32(KValuesIQ4NL[qs[j]&0xF])
				ys[j+16] = dl * float32(KValuesIQ4NL[qs[j]>>4])
			}
		}
	}
}
