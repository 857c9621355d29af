package quant

// The 2- and 3-bit k-quant super-blocks of QK_K = 256 elements, 16
// sub-blocks of 16 each:
//
//	Q2_K (84 bytes):  scales[16], qs[64], d f16, dmin f16
//	Q3_K (110 bytes): hmask[32], qs[64], scales[12], d f16
//
// Both keep their low two bits the same way: within each 128 elements,
// qs byte l (of that half's 32) holds element 32j+l in bits 2j, 2j+1
// (j = 0..3). Sub-block s covers elements 16s..16s+15, so the 32 elements
// of group g = 4·half+j take sub-blocks 2g (l < 16) and 2g+1.
// Q2_K: scales[s] holds a 4-bit scale (low nibble) and min (high),
// x = d·scale·q − dmin·min.
// Q3_K: the third bit of element 32g+l is bit g of hmask[l], set meaning
// no offset: x = d·(scale−32)·(q − 4·(1−bit)), with the 6-bit scales
// packed in scales[12] (see ScalesK3).

// ScalesK3 unpacks Q3_K's sixteen 6-bit scales from scales[12], less 32:
// the low four bits of scale s are the low nibble of byte s (s < 8) or the
// high nibble of byte s−8, its top two bits are bits 2·(s/4) of byte
// 8 + s%4.
func ScalesK3(q []byte) (sc [16]int8) {
	for s := range 16 {
		lo := q[s%8] >> (4 * (s / 8)) & 0xF
		hi := q[8+s%4] >> (2 * (s / 4)) & 3
		sc[s] = int8(lo|hi<<4) - 32
	}
	return sc
}

func dequantQ2_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*84:], dst[i*QK_K:]
		scales, qs := b[0:16], b[16:80]
		d, dmin := f16At(b[80:]), f16At(b[82:])
		for g := range 8 {
			q, shift := qs[32*(g/4):], 2*(g%4)
			for l := range 32 {
				sc := scales[2*g+l/16]
				y[32*g+l] = d*float32(sc&0xF)*float32(q[l]>>shift&3) - dmin*float32(sc>>4)
			}
		}
	}
}

func dequantQ3_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*110:], dst[i*QK_K:]
		hmask, qs := b[0:32], b[32:96]
		sc := ScalesK3(b[96:108])
		d := f16At(b[108:])
		for g := range 8 {
			q, shift := qs[32*(g/4):], 2*(g%4)
			for l := range 32 {
				v := int(q[l] >> shift & 3)
				if hmask[l]>>g&1 == 0 {
					v -= 4
				}
				y[32*g+l] = d * float32(sc[2*g+l/16]) * float32(v)
			}
		}
	}
}
