package kernels

import "github.com/vkinfer/vkinfer/quant"

// Attention over a KV cache and rotary position embedding, the per-head
// work of a decoder layer. As the elementwise ops, each runs the AVX2
// kernel where the CPU has it and the Go version (the reference)
// elsewhere or when portable is set.

// Attend sets out = Σ_p softmax_p(scale·q·k_p)·v_p over the positions
// p < len(scores), whose key and value rows (len(q) wide) start at
// k[p*stride] and v[p*stride]; scores is scratch and ends holding the
// attention weights. len(out) must be at least len(q). The weights are
// rounded to f16 before they meet v, as llama.cpp's CPU backend converts
// them for its product with an f16 V cache (v here holds f16 values).
func Attend(out, q, k, v []float32, stride int, scale float32, scores []float32, portable bool) {
	run := [1]Run{{Row: 0, Len: len(scores)}}
	AttendRuns(out, q, k, v, stride, run[:], scale, scores, portable)
}

// Run is a run of consecutive rows of a KV cache: rows [Row, Row+Len).
type Run struct{ Row, Len int }

// AttendRuns is Attend over keys and values kept in runs of rows (the
// pages of a paged cache): position p is the p-th row of the runs taken
// in order; scores must hold the runs' total length and ends holding
// the weights. The result has the same bits however the positions are
// split into runs.
func AttendRuns(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32, portable bool) {
	attendRuns(out, q, k, v, stride, runs, scale, scores, portable, true, simdAttend)
}

// AttendRunsF32 is AttendRuns with the weights left in float32, for a
// cache whose values meet them unrounded (f32, q8_0).
func AttendRunsF32(out, q, k, v []float32, stride int, runs []Run, scale float32, scores []float32, portable bool) {
	attendRuns(out, q, k, v, stride, runs, scale, scores, portable, false, simdAttendF32)
}

// kvValue is what a KV cache stores a value as here: float32, or f16 bits.
type kvValue interface{ ~float32 | ~uint16 }

func widen[T kvValue](x T) float32 {
	if h, ok := any(x).(uint16); ok {
		return quant.F16ToF32(h)
	}
	return float32(x)
}

func attendRuns[T kvValue](out, q []float32, k, v []T, stride int, runs []Run, scale float32, scores []float32, portable, round bool,
	simd func(out, q []float32, k, v []T, stride int, runs []Run, scale float32, scores []float32)) {
	hd, span := len(q), 0
	for _, r := range runs {
		if r.Len > 0 {
			end := (r.Row+r.Len-1)*stride + hd
			_, _ = k[:end], v[:end] // bounds: the C kernel reads these rows unchecked
			span += r.Len
		}
	}
	scores = scores[:span]
	if span == 0 || hd == 0 {
		clear(out[:hd])
		return
	}
	out = out[:hd]
	if use(portable) >= isaAVX2 {
		simd(out, q, k, v, stride, runs, scale, scores)
		return
	}
	p := 0
	for _, r := range runs {
		for j := range r.Len {
			kp := k[(r.Row+j)*stride:][:hd]
			var d float32
			for i, qv := range q {
				d += qv * widen(kp[i])
			}
			scores[p] = d * scale
			p++
		}
	}
	Softmax(scores, true)
	if round {
		for p, w := range scores {
			scores[p] = quant.F16ToF32(quant.F32ToF16(w))
		}
	}
	clear(out)
	p = 0
	for _, r := range runs {
		for j := range r.Len {
			vp := v[(r.Row+j)*stride:][:hd]
			w := scores[p]
			for i := range out {
				out[i] += w * widen(vp[i])
			}
			p++
		}
	}
}

// GatherHalf widens the hd f16 values at the start of each row of the
// runs (rows stride apart in src) into dst, hd floats a row in run order.
func GatherHalf(dst []float32, src []uint16, stride, hd int, runs []Run, portable bool) {
	n := 0
	for _, r := range runs {
		if r.Len > 0 {
			_ = src[:(r.Row+r.Len-1)*stride+hd]
			n += r.Len
		}
	}
	dst = dst[:n*hd]
	if use(portable) >= isaAVX2 {
		simdGatherF16(dst, src, stride, hd, runs)
		return
	}
	for _, r := range runs {
		for j := range r.Len {
			for i, h := range src[(r.Row+j)*stride:][:hd] {
				dst[i] = quant.F16ToF32(h)
			}
			dst = dst[hd:]
		}
	}
}

// GatherQ8_0 widens values [off, off+hd) of each row of the runs (rows
// of ggml Q8_0 blocks, rowBytes apart in src) into dst, hd floats a row
// in run order: each int8 times its block's f16 scale, as
// quant.Dequantize gives them.
func GatherQ8_0(dst []float32, src []byte, rowBytes, off, hd int, runs []Run, portable bool) {
	n := 0
	for _, r := range runs {
		if r.Len > 0 {
			_ = src[:(r.Row+r.Len-1)*rowBytes+(off+hd+31)/32*34]
			n += r.Len
		}
	}
	dst = dst[:n*hd]
	if use(portable) >= isaAVX2 {
		simdGatherQ8_0(dst, src, rowBytes, off, hd, runs)
		return
	}
	for _, r := range runs {
		for c := r.Row; c < r.Row+r.Len; c++ {
			row := src[c*rowBytes:]
			for i := range hd {
				blk := row[(off+i)/32*34:]
				dst[i] = float32(int8(blk[2+(off+i)%32])) * quant.F16ToF32(uint16(blk[0])|uint16(blk[1])<<8)
			}
			dst = dst[hd:]
		}
	}
}

// Rope rotates the first len(cs) dimensions of each hd-wide head of x by
// the angles whose (cos, sin) pairs cs holds: pair i is dimensions (2i,
// 2i+1), or with neox (i, i+len(cs)/2), as GGML's normal and NeoX modes.
func Rope(x, cs []float32, hd int, neox, portable bool) {
	rd := len(cs)
	if rd == 0 || hd == 0 {
		return
	}
	if use(portable) >= isaAVX2 {
		simdRope(x, cs, hd, neox)
		return
	}
	half := rd / 2
	for h := 0; h+hd <= len(x); h += hd {
		head := x[h : h+hd]
		for i := range half {
			cos, sin := cs[2*i], cs[2*i+1]
			j, k := 2*i, 2*i+1
			if neox {
				j, k = i, i+half
			}
			a, b := head[j], head[k]
			head[j], head[k] = a*cos-b*sin, a*sin+b*cos
		}
	}
}
