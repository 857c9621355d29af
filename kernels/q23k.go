package kernels

import "github.com/vkinfer/vkinfer/quant"

// dotQ2_K multiplies a Q2_K row (84-byte super-blocks: 16 scale/min
// bytes, 64 bytes of 2-bit quants, d, dmin) by Q8_K activations. Group g
// of a super-block (32 elements, activation block b) takes bits 2·(g%4)
// of qs[32·(g/4)+l]; its two halves of 16 have their own 4-bit scale and
// min, so the min term needs each half's activation sum (ggml's bsums),
// formed here as the block's sums xs cover 32.
func dotQ2_K(w []byte, xq []int8, xd []float32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/84; sb++ {
		blk := w[sb*84 : (sb+1)*84]
		scales, qs := blk[0:16], blk[16:80]
		d, dmin := f16At(blk[80:]), f16At(blk[82:])
		for g := range 8 {
			b := sb*8 + g
			q, x, shift := qs[32*(g/4):], xq[b*quant.QK:], 2*(g%4)
			var isum, msum int32
			for h := range 2 {
				var dot, bsum int32
				for l := 16 * h; l < 16*h+16; l++ {
					dot += int32(q[l]>>shift&3) * int32(x[l])
					bsum += int32(x[l])
				}
				sc := scales[2*g+h]
				isum += int32(sc&0xF) * dot
				msum += int32(sc>>4) * bsum
			}
			sum += xd[b] * (d*float32(isum) - dmin*float32(msum))
		}
	}
	return sum
}

// dotQ3_K multiplies a Q3_K row (110-byte super-blocks: 32 bytes of third
// bits, 64 of low bits, 12 of packed scales, d) by Q8_K activations:
// group g as in Q2_K, its element l less 4 where bit g of hmask[l] is
// clear, each half of 16 with its signed 6-bit scale.
func dotQ3_K(w []byte, xq []int8, xd []float32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/110; sb++ {
		blk := w[sb*110 : (sb+1)*110]
		hmask, qs := blk[0:32], blk[32:96]
		sc := quant.ScalesK3(blk[96:108])
		d := f16At(blk[108:])
		for g := range 8 {
			b := sb*8 + g
			q, x, shift := qs[32*(g/4):], xq[b*quant.QK:], 2*(g%4)
			var isum int32
			for h := range 2 {
				var dot int32
				for l := 16 * h; l < 16*h+16; l++ {
					v := int32(q[l] >> shift & 3)
					if hmask[l]>>g&1 == 0 {
						v -= 4
					}
					dot += v * int32(x[l])
				}
				isum += int32(sc[2*g+h]) * dot
			}
			sum += d * xd[b] * float32(isum)
		}
	}
	return sum
}
