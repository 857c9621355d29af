package kernels

import "github.com/vkinfer/vkinfer/quant"

// dotIQ4_NL multiplies an IQ4_NL row by Q8_0-quantized activations: each
// block's levels (quant.KValuesIQ4NL) meet its activation block in one
// integer dot, scaled by the weight's f16 d and the activations' xd[b].
func dotIQ4_NL(w []byte, xq []int8, xd []float32) float32 {
	var s float32
	for b := 0; b < len(w)/18; b++ {
		blk := w[b*18 : (b+1)*18]
		q := xq[b*quant.QK:]
		var isum int32
		for j := range 16 {
			isum += int32(quant.KValuesIQ4NL[blk[2+j]&0xF]) * int32(q[j])
			isum += int32(quant.KValuesIQ4NL[blk[2+j]>>4]) * int32(q[j+16])
		}
		s += float32(isum) * f16At(blk) * xd[b]
	}
	return s
}

// dotIQ4_XS multiplies an IQ4_XS row by Q8_K-quantized activations (one
// scale per 256 values, repeated in xd for each 32-block): the eight
// sub-blocks' integer dots, times their scales ls−32, sum to one integer
// per super-block, as in ggml's x86 kernel, which then meets d·xd once.
func dotIQ4_XS(w []byte, xq []int8, xd []float32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/136; sb++ {
		blk := w[sb*136 : (sb+1)*136]
		h := uint16(blk[2]) | uint16(blk[3])<<8
		var isum int32
		for s := range 8 {
			qs, q := blk[8+16*s:], xq[(sb*8+s)*quant.QK:]
			var dot int32
			for j := range 16 {
				dot += int32(quant.KValuesIQ4NL[qs[j]&0xF]) * int32(q[j])
				dot += int32(quant.KValuesIQ4NL[qs[j]>>4]) * int32(q[j+16])
			}
			isum += quant.IQ4XSScale(h, blk[4:8], s) * dot
		}
		sum += float32(isum) * (f16At(blk) * xd[sb*8])
	}
	return sum
}
