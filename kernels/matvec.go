package kernels

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// ErrShape is returned when weights, input and output disagree in size.
var ErrShape = errors.New("kernels: shape mismatch")

// SIMD reports whether the AVX2 kernels are in use on this machine.
func SIMD() bool { return active >= isaAVX2 }

// VNNI reports whether the AVX-512 VNNI kernels are in use.
func VNNI() bool { return active >= isaVNNI }

// maxParts bounds how many ranges a call splits into, and so the
// per-part scratch a MatVec keeps.
const maxParts = 64

// MatVec computes matrix-vector products. It keeps scratch space (the
// quantized input, a dequantized row per worker), so a MatVec serves one
// caller at a time; a warm call allocates nothing.
type MatVec struct {
	// Portable forces the Go kernels even where SIMD ones exist.
	Portable bool

	xq   []int8    // input quantized to Q8_0 blocks
	xd   []float32 // their scales
	xs   []int32   // their integer sums (for K-quant minimums)
	xr   []float32 // input rounded for F16/BF16 weights
	rows [maxParts][]float32
	// Each part's inputs and outputs as the kernels take them; kept here
	// because the kernels are func values, through which they would
	// escape to the heap on every call.
	parts [maxParts]struct {
		in  input
		in4 input4
		ys  [4][]float32
	}
	split Split
	one   [1][]float32 // Do's single input and output, without allocating
	oneY  [1][]float32

	// The call in progress: one input (x, y) or a batch (xs, ys), whose
	// quantized inputs sit one after another in xq/xd/xs/xr.
	t          gguf.Type
	w          []byte
	cols, rb   int
	xb, yb     [][]float32
	isa        isa // the kernel set of this call
	dequantErr error
	errMu      sync.Mutex
}

// Do sets y[r] = Σ_c W[r][c]·x[c] for the rows x cols matrix W of type t
// stored in w (GGUF layout: rows of cols elements in t's blocks).
func (m *MatVec) Do(t gguf.Type, w []byte, rows, cols int, x, y []float32) error {
	m.one[0], m.oneY[0] = x, y
	err := m.DoBatch(t, w, rows, cols, m.one[:], m.oneY[:])
	m.one[0], m.oneY[0] = nil, nil
	return err
}

// DoBatch sets ys[b] = W·xs[b] for every input b. A tile of weight rows
// stays in cache while every input passes over it, so a batch (a prompt,
// a BERT sequence) reads the weights once, not once per input. Each output
// equals what Do would give for its input alone.
func (m *MatVec) DoBatch(t gguf.Type, w []byte, rows, cols int, xs, ys [][]float32) error {
	rb, err := t.RowBytes(cols)
	if err != nil {
		return fmt.Errorf("kernels: %w", err)
	}
	if len(w) < rows*rb || len(xs) != len(ys) {
		return fmt.Errorf("%w: %d×%d %s needs %d bytes (have %d); %d inputs for %d outputs",
			ErrShape, rows, cols, t, rows*rb, len(w), len(xs), len(ys))
	}
	for b := range xs {
		if len(xs[b]) < cols || len(ys[b]) < rows {
			return fmt.Errorf("%w: input %d has %d values (want %d), output %d (want %d)", ErrShape, b, len(xs[b]), cols, len(ys[b]), rows)
		}
	}
	if !quant.CanDequantize(t) {
		return fmt.Errorf("kernels: %s weights: %w", t, quant.ErrUnsupported)
	}
	m.t, m.w, m.cols, m.rb, m.xb, m.yb = t, w, cols, rb, xs, ys
	m.isa = use(m.Portable)
	m.dequantErr = nil
	switch activations(t) {
	case quant.ActQ8_0, quant.ActQ8_K:
		m.quantizeInputs()
	case quant.ActBF16:
		m.roundInputs()
	}
	// Spread rows so each part gets a few thousand multiply-adds at least.
	parallel(rows, max(1, 16384/(cols*len(xs))), maxParts, &m.split, m)
	m.xb, m.yb, m.w = nil, nil, nil
	return m.dequantErr
}

// quantizeInputs quantizes each input as ggml does for its quantized dot
// products, into blocks of 32 values with a scale and an integer sum each:
//   - for Q4_0, Q5_0 and Q8_0 weights, ggml's Q8_0 blocks: per 32 values
//     d = max|x|/127, q = round(x/d), and d then rounded to f16 as
//     block_q8_0 stores it (the integers stay those of the f32 scale);
//   - for the K-quants, ggml's Q8_K blocks: one f32 scale per 256 values
//     (quantizeQ8K), given to each of their eight 32-blocks.
//
// Following ggml's roundings keeps results equal to llama.cpp's to float32
// noise rather than to the activations' quantization error.
func (m *MatVec) quantizeInputs() {
	nb := m.cols / quant.QK
	m.xq = grow(m.xq, m.cols*len(m.xb))
	m.xd = grow(m.xd, nb*len(m.xb))
	m.xs = grow(m.xs, nb*len(m.xb))
	act := activations(m.t)
	for i, x := range m.xb {
		xq, xd, xs := m.xq[i*m.cols:(i+1)*m.cols], m.xd[i*nb:(i+1)*nb], m.xs[i*nb:(i+1)*nb]
		if act == quant.ActQ8_K {
			quantizeQ8K(m.isa, x[:m.cols], xq, xd, xs)
		} else {
			quantize(m.isa, x[:m.cols], xq, xd, xs)
		}
	}
	if act == quant.ActQ8_0 {
		xd := m.xd[:nb*len(m.xb)]
		for i, d := range xd {
			xd[i] = quant.F16ToF32(quant.F32ToF16(d))
		}
	}
}

// quantizeQ8K quantizes x as ggml's Q8_K: per 256 values, with m the value
// of largest magnitude, q = round-half-even(-127/m · x) capped at 127 and
// the scale d = m/-127 (negative when m is: q·d is x either way). Each of
// the eight 32-blocks gets d and its integer sum, with set v's code.
func quantizeQ8K(v isa, x []float32, xq []int8, xd []float32, xs []int32) {
	if v >= isaAVX2 {
		simdQuantizeQ8K(x, xq, xd, xs)
		return
	}
	const blocks = quant.QK_K / quant.QK
	for sb := 0; sb < len(x)/quant.QK_K; sb++ {
		q := xq[sb*quant.QK_K : (sb+1)*quant.QK_K]
		d := quant.QuantizeQ8K(x[sb*quant.QK_K:], q)
		for b := range blocks {
			var sum int32
			for _, v := range q[b*quant.QK : (b+1)*quant.QK] {
				sum += int32(v)
			}
			xd[sb*blocks+b], xs[sb*blocks+b] = d, sum
		}
	}
}

// quantize quantizes x to Q8_0 blocks with set v's quantizer.
func quantize(v isa, x []float32, xq []int8, xd []float32, xs []int32) {
	if v >= isaAVX2 {
		simdQuantizeQ8(x, xq, xd, xs)
		return
	}
	quantizeQ8(x, xq, xd, xs)
}

// quantizeQ8 is the Go quantizer: as the SIMD one, but rounding halves
// away from zero (as ggml's scalar path does).
func quantizeQ8(x []float32, xq []int8, xd []float32, xs []int32) {
	for b := range xd {
		blk := x[b*quant.QK : (b+1)*quant.QK]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		xd[b] = d
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sum int32
		for i, v := range blk {
			q := int8(math.Round(float64(v * id)))
			xq[b*quant.QK+i] = q
			sum += int32(q)
		}
		xs[b] = sum
	}
}

// roundInputs rounds each input to bf16 for BF16 weights, as llama.cpp's
// CPU backend converts activations before a BF16 dot. F16 weights take
// float32 inputs as they are: its x86 GEMM (llamafile's) multiplies f16
// weights by f32 activations without rounding them, for prompts and
// single tokens alike (checked against ../shared/reference/arch).
func (m *MatVec) roundInputs() {
	m.xr = grow(m.xr, m.cols*len(m.xb))
	for b, x := range m.xb {
		roundBF16(x[:m.cols], m.xr[b*m.cols:(b+1)*m.cols])
	}
}

// roundBF16 sets out to x rounded to bf16 (nearest even). It has no C
// version, so every set runs this loop.
func roundBF16(x, out []float32) {
	for i, v := range x {
		out[i] = math.Float32frombits((math.Float32bits(v) + 0x7fff + (math.Float32bits(v)>>16)&1) &^ 0xffff)
	}
}

// RoundF16 sets out to x rounded to f16 (nearest even), as a value goes
// into an f16 KV cache; portable forces the Go code.
func RoundF16(x, out []float32, portable bool) {
	roundF16(use(portable), x, out)
}

// roundF16 sets out to x rounded to f16 (nearest even) with set v's code.
func roundF16(v isa, x, out []float32) {
	if v >= isaAVX2 {
		simdRoundF16(x, out)
		return
	}
	for i, f := range x {
		out[i] = quant.F16ToF32(quant.F32ToF16(f))
	}
}

// ToF16 sets dst to x as f16 bits (nearest even), as an f16 KV cache
// stores a row; portable forces the Go code.
func ToF16(dst []uint16, x []float32, portable bool) {
	dst = dst[:len(x)]
	if use(portable) >= isaAVX2 {
		simdToF16(dst, x)
		return
	}
	for i, f := range x {
		dst[i] = quant.F32ToF16(f)
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// tileBytes is how much of the weights one tile holds: small enough to
// stay in L2 while every input of a batch passes over it.
const tileBytes = 128 << 10

// run multiplies rows [lo, hi) for every input, a tile of rows at a time,
// with the kernels of the type's row of typeTable.
func (m *MatVec) run(part, lo, hi int) {
	tile := max(1, tileBytes/m.rb)
	if len(m.xb) == 1 {
		tile = hi - lo
	}
	k := typeTable[m.t]
	if k == nil {
		k = &dequantRows
	}
	quantized := quantized(m.t)
	nb32 := m.cols / quant.QK
	nb := m.cols / m.t.BlockSize()
	four := k.four(m.isa)
	p := &m.parts[part]
	for t0 := lo; t0 < hi; t0 += tile {
		t1 := min(hi, t0+tile)
		b := 0
		for ; four != nil && b+4 <= len(m.xb); b += 4 {
			p.ys = [4][]float32{m.yb[b], m.yb[b+1], m.yb[b+2], m.yb[b+3]}
			if quantized {
				p.in4 = input4{xq: m.xq[b*m.cols:], xd: m.xd[b*nb32:], xs: m.xs[b*nb32:]}
			} else {
				p.in4 = input4{x: [4][]float32{m.xb[b], m.xb[b+1], m.xb[b+2], m.xb[b+3]}}
			}
			four(m.w, &p.in4, &p.ys, t0, t1, nb, m.cols)
		}
		for ; b < len(m.xb); b++ {
			p.in = input{x: m.xb[b][:m.cols]}
			switch {
			case quantized:
				p.in = input{xq: m.xq[b*m.cols : (b+1)*m.cols], xd: m.xd[b*nb32 : (b+1)*nb32], xs: m.xs[b*nb32 : (b+1)*nb32]}
			case activations(m.t) == quant.ActBF16:
				p.in.x = m.xr[b*m.cols : (b+1)*m.cols]
			}
			m.runOne(k, part, t0, t1, &p.in, m.yb[b])
		}
	}
	p.in, p.in4, p.ys = input{}, input4{}, [4][]float32{} // hold no caller memory
}

// dequantRows is the kernel row of the types without kernels of their own.
var dequantRows typeKernels

// runOne multiplies rows [lo, hi) by one input with k's kernel of the
// call's set, its Go kernel, or a dequantized row and an f32 dot.
func (m *MatVec) runOne(k *typeKernels, part, lo, hi int, in *input, y []float32) {
	if f := k.single(m.isa); f != nil {
		f(m.w, in, y, lo, hi, m.cols/m.t.BlockSize())
		return
	}
	if k.dot != nil {
		for r := lo; r < hi; r++ {
			y[r] = k.dot(m.w[r*m.rb:(r+1)*m.rb], in)
		}
		return
	}
	m.rows[part] = grow(m.rows[part], m.cols)
	row := m.rows[part]
	for r := lo; r < hi; r++ {
		if err := quant.Dequantize(m.t, m.w[r*m.rb:(r+1)*m.rb], row); err != nil {
			m.errMu.Lock()
			m.dequantErr = err
			m.errMu.Unlock()
			return
		}
		y[r] = Dot(row, in.x)
	}
}

// Dot returns the inner product of a and b (b at least as long as a),
// summed in four interleaved lanes.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

func dotF32Bytes(w []byte, x []float32) float32 {
	var s float32
	for i := range x {
		s += math.Float32frombits(uint32(w[4*i])|uint32(w[4*i+1])<<8|uint32(w[4*i+2])<<16|uint32(w[4*i+3])<<24) * x[i]
	}
	return s
}

func f16At(b []byte) float32 { return quant.F16ToF32(uint16(b[0]) | uint16(b[1])<<8) }

func dotQ8_0(w []byte, xq []int8, xd []float32) float32 {
	var s float32
	for b := 0; b < len(w)/34; b++ {
		blk := w[b*34 : (b+1)*34]
		var isum int32
		for i := range quant.QK {
			isum += int32(int8(blk[2+i])) * int32(xq[b*quant.QK+i])
		}
		s += float32(isum) * f16At(blk) * xd[b]
	}
	return s
}

func dotQ4_0(w []byte, xq []int8, xd []float32) float32 {
	var s float32
	for b := 0; b < len(w)/18; b++ {
		blk := w[b*18 : (b+1)*18]
		q := xq[b*quant.QK:]
		var isum int32
		for j := range 16 {
			isum += (int32(blk[2+j]&0xF) - 8) * int32(q[j])
			isum += (int32(blk[2+j]>>4) - 8) * int32(q[j+16])
		}
		s += float32(isum) * f16At(blk) * xd[b]
	}
	return s
}

// dotQ4_K multiplies a Q4_K row by Q8_0-quantized activations: each
// 32-element sub-block s, with 6-bit scale and min, meets one activation
// block b and adds xd[b]·(d·scale·Σq·xq − dmin·min·Σxq).
func dotQ4_K(w []byte, xq []int8, xd []float32, xs []int32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/144; sb++ {
		blk := w[sb*144 : (sb+1)*144]
		d, dmin := f16At(blk), f16At(blk[2:])
		scales, qs := blk[4:16], blk[16:144]
		for j := range 4 {
			for h := range 2 {
				s := 2*j + h
				sc, mn := quant.ScaleMinK4(s, scales)
				b := sb*8 + s
				q := xq[b*quant.QK:]
				var isum int32
				for l := range 32 {
					v := qs[32*j+l] & 0xF
					if h == 1 {
						v = qs[32*j+l] >> 4
					}
					isum += int32(v) * int32(q[l])
				}
				sum += xd[b] * (d*float32(sc)*float32(isum) - dmin*float32(mn)*float32(xs[b]))
			}
		}
	}
	return sum
}

// dotQ5_K multiplies a Q5_K row (176-byte super-blocks: d, dmin, the
// Q4_K scales, 32 bytes of fifth bits, 128 bytes of nibbles) by
// Q8_0-quantized activations: sub-block s takes bit s of qh[l] as the
// fifth bit of its element l.
func dotQ5_K(w []byte, xq []int8, xd []float32, xs []int32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/176; sb++ {
		blk := w[sb*176 : (sb+1)*176]
		d, dmin := f16At(blk), f16At(blk[2:])
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		for s := range 8 {
			sc, mn := quant.ScaleMinK4(s, scales)
			b := sb*8 + s
			q := xq[b*quant.QK:]
			var isum int32
			for l := range 32 {
				v := qs[32*(s/2)+l] >> (4 * (s & 1)) & 0xF
				v |= (qh[l] >> s & 1) << 4
				isum += int32(v) * int32(q[l])
			}
			sum += xd[b] * (d*float32(sc)*float32(isum) - dmin*float32(mn)*float32(xs[b]))
		}
	}
	return sum
}

// dotQ6_K multiplies a Q6_K row by Q8_0-quantized activations. In each
// half of a super-block, byte l of ql/qh holds element l of the four
// 32-element groups g (the low or high nibble of ql[l] or ql[l+32], two
// bits of qh[l]); a group is one activation block, its two 16-element
// halves have their own int8 scales.
func dotQ6_K(w []byte, xq []int8, xd []float32) float32 {
	var sum float32
	for sb := 0; sb < len(w)/210; sb++ {
		blk := w[sb*210 : (sb+1)*210]
		d := f16At(blk[208:])
		for half := range 2 {
			ql, qh, sc := blk[64*half:], blk[128+32*half:], blk[192+8*half:]
			for g := range 4 {
				b := sb*8 + 4*half + g
				q := xq[b*quant.QK:]
				var acc [2]int32
				for l := range 32 {
					lo := ql[l+32*(g&1)]
					if g >= 2 {
						lo >>= 4
					}
					v := int32(lo&0xF|(qh[l]>>(2*g)&3)<<4) - 32
					acc[l/16] += v * int32(q[l])
				}
				sum += d * xd[b] * (float32(int8(sc[2*g]))*float32(acc[0]) + float32(int8(sc[2*g+1]))*float32(acc[1]))
			}
		}
	}
	return sum
}

func dotQ5_0(w []byte, xq []int8, xd []float32) float32 {
	var s float32
	for b := 0; b < len(w)/22; b++ {
		blk := w[b*22 : (b+1)*22]
		qh := uint32(blk[2]) | uint32(blk[3])<<8 | uint32(blk[4])<<16 | uint32(blk[5])<<24
		q := xq[b*quant.QK:]
		var isum int32
		for j := range 16 {
			lo := int32(blk[6+j]&0xF) | int32(qh>>j&1)<<4
			hi := int32(blk[6+j]>>4) | int32(qh>>(j+16)&1)<<4
			isum += (lo-16)*int32(q[j]) + (hi-16)*int32(q[j+16])
		}
		s += float32(isum) * f16At(blk) * xd[b]
	}
	return s
}
