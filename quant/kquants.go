package quant

import (
	"math"
)

// The k-quant super-blocks of QK_K = 256 elements.
//
//	Q4_K (144 bytes): d f16, dmin f16, scales[12], qs[128]
//	Q5_K (176 bytes): d f16, dmin f16, scales[12], qh[32], qs[128]
//	Q6_K (210 bytes): ql[128], qh[64], scales[16] int8, d f16
//
// Q4_K and Q5_K split the block into 8 sub-blocks of 32, each with a 6-bit
// scale and a 6-bit min packed into scales[12] (see ScaleMinK4):
// x = d*scale*q - dmin*min. Within each 64 elements, qs byte l holds element
// l in its low nibble and element l+32 in its high nibble; Q5_K's fifth bits
// are in qh, bit 2k and 2k+1 of qh[l] for the k-th 64.
// Q6_K has 16 sub-blocks of 16 with int8 scales: x = d*scale*(q - 32), q's
// low four bits in ql and high two in qh.
const QK_K = 256

// ScaleMinK4 unpacks sub-block j's 6-bit scale and min from Q4_K/Q5_K's
// scales[12]: j < 4 sit in the low six bits of bytes j and j+4; j >= 4 take
// four bits from byte j+4 and their top two from the spare bits of bytes
// j-4 and j.
func ScaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func dequantQ4_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*144:], dst[i*QK_K:]
		d, dmin := f16At(b), f16At(b[2:])
		scales, q := b[4:16], b[16:144]
		for j, is := 0, 0; j < QK_K; j, is = j+64, is+2 {
			sc1, m1 := ScaleMinK4(is, scales)
			sc2, m2 := ScaleMinK4(is+1, scales)
			d1, mm1 := d*float32(sc1), dmin*float32(m1)
			d2, mm2 := d*float32(sc2), dmin*float32(m2)
			for l := range 32 {
				y[j+l] = d1*float32(q[l]&0xF) - mm1
				y[j+32+l] = d2*float32(q[l]>>4) - mm2
			}
			q = q[32:]
		}
	}
}

func dequantQ5_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*176:], dst[i*QK_K:]
		d, dmin := f16At(b), f16At(b[2:])
		scales, qh, ql := b[4:16], b[16:48], b[48:176]
		u1, u2 := byte(1), byte(2)
		for j, is := 0, 0; j < QK_K; j, is = j+64, is+2 {
			sc1, m1 := ScaleMinK4(is, scales)
			sc2, m2 := ScaleMinK4(is+1, scales)
			d1, mm1 := d*float32(sc1), dmin*float32(m1)
			d2, mm2 := d*float32(sc2), dmin*float32(m2)
			for l := range 32 {
				lo, hi := ql[l]&0xF, ql[l]>>4
				if qh[l]&u1 != 0 {
					lo += 16
				}
				if qh[l]&u2 != 0 {
					hi += 16
				}
				y[j+l] = d1*float32(lo) - mm1
				y[j+32+l] = d2*float32(hi) - mm2
			}
			ql = ql[32:]
			u1 <<= 2
			u2 <<= 2
		}
	}
}

func dequantQ6_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b, y := src[i*210:], dst[i*QK_K:]
		ql, qh, sc := b[0:128], b[128:192], b[192:208]
		d := f16At(b[208:])
		for n := 0; n < QK_K; n += 128 {
			for l := range 32 {
				is := l / 16
				q1 := int(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[n+l] = d * float32(int8(sc[is])) * float32(q1)
				y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
			ql, qh, sc = ql[64:], qh[32:], sc[8:]
		}
	}
}

// minMaxQuant fits x ≈ scale*q - min with q in [0, nmax] for one
// sub-block, searching scales around the range fit (as ggml's
// make_qkx2_quants does) for the least squared error. min >= 0.
func minMaxQuant(x []float32, nmax int, q []uint8) (scale, minv float32) {
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	lo = min(lo, 0)
	if hi == lo {
		clear(q)
		return 0, -lo
	}
	best := math.Inf(1)
	for step := -10; step <= 10; step++ {
		iscale := (float32(nmax) + 0.1*float32(step)) / (hi - lo)
		if iscale <= 0 {
			continue
		}
		s := 1 / iscale
		var err float64
		for _, v := range x {
			l := min(nmax, max(0, nearestInt(iscale*(v-lo))))
			e := float64(s*float32(l) + lo - v)
			err += e * e
		}
		if err < best {
			best, scale = err, s
		}
	}
	for i, v := range x {
		q[i] = uint8(min(nmax, max(0, nearestInt((v-lo)/scale))))
	}
	return scale, -lo
}

// packScalesK4 is the inverse of ScaleMinK4 for 8 sub-blocks.
func packScalesK4(ls, lm [8]uint8, out []byte) {
	clear(out[:12])
	for j := range 8 {
		if j < 4 {
			out[j] = ls[j]
			out[j+4] = lm[j]
		} else {
			out[j+4] = ls[j]&0xF | (lm[j]&0xF)<<4
			out[j-4] |= (ls[j] >> 4) << 6
			out[j] |= (lm[j] >> 4) << 6
		}
	}
}

// quantQ4_K fits each sub-block's scale and min, quantizes those to six
// bits against the block's d and dmin, then quantizes the elements with
// the scales as stored.
func quantQ4_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	for i := 0; i < len(src)/QK_K; i++ {
		x, b := src[i*QK_K:(i+1)*QK_K], dst[i*144:(i+1)*144]
		var scales, mins [8]float32
		var maxScale, maxMin float32
		for j := range 8 {
			scales[j], mins[j] = minMaxQuant(x[32*j:32*j+32], 15, L[32*j:32*j+32])
			maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
		}
		var ls, lm [8]uint8
		var invScale, invMin float32
		if maxScale > 0 {
			invScale = 63 / maxScale
		}
		if maxMin > 0 {
			invMin = 63 / maxMin
		}
		for j := range 8 {
			ls[j] = uint8(min(63, nearestInt(invScale*scales[j])))
			lm[j] = uint8(min(63, nearestInt(invMin*mins[j])))
		}
		putF16(b, maxScale/63)
		putF16(b[2:], maxMin/63)
		packScalesK4(ls, lm, b[4:16])
		d, dmin := f16At(b), f16At(b[2:])
		for j := range 8 {
			sd, sm := d*float32(ls[j]), dmin*float32(lm[j])
			for l := range 32 {
				v := uint8(0)
				if sd != 0 {
					v = uint8(min(15, max(0, nearestInt((x[32*j+l]+sm)/sd))))
				}
				L[32*j+l] = v
			}
		}
		q := b[16:]
		for j := 0; j < QK_K; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	}
}

// quantQ6_K gives each sub-block of 16 the scale mapping its
// largest-magnitude element to -32, quantizes the scales to int8 against
// the block's d, then the elements against the stored scales.
func quantQ6_K(src []float32, dst []byte) {
	var L [QK_K]int
	for i := 0; i < len(src)/QK_K; i++ {
		x, b := src[i*QK_K:(i+1)*QK_K], dst[i*210:(i+1)*210]
		var scales [16]float32
		var maxScale, maxAbs float32
		for j := range 16 {
			scales[j] = signedMax(x[16*j:16*j+16]) / -32
			if a := abs32(scales[j]); a > maxAbs {
				maxAbs, maxScale = a, scales[j]
			}
		}
		clear(b)
		if maxAbs == 0 {
			for j := range L {
				L[j] = 32
			}
		} else {
			iscale := -128 / maxScale
			putF16(b[208:], 1/iscale)
			d := f16At(b[208:])
			for j := range 16 {
				sc := int8(min(127, nearestInt(iscale*scales[j])))
				b[192+j] = byte(sc)
				sd := d * float32(sc)
				for l := range 16 {
					v := 32
					if sd != 0 {
						v = min(63, max(0, nearestInt(x[16*j+l]/sd)+32))
					}
					L[16*j+l] = v
				}
			}
		}
		ql, qh := b[0:128], b[128:192]
		for j := 0; j < QK_K; j += 128 {
			for l := range 32 {
				q1, q2, q3, q4 := L[j+l], L[j+l+32], L[j+l+64], L[j+l+96]
				ql[l] = byte(q1&0xF | (q3&0xF)<<4)
				ql[l+32] = byte(q2&0xF | (q4&0xF)<<4)
				qh[l] = byte(q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6)
			}
			ql, qh = ql[64:], qh[32:]
		}
	}
}
