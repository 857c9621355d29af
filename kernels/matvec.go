package kernels

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/quant"
)

// ErrShape is returned when weights, input and output disagree in size.
var ErrShape = errors.New("kernels: shape mismatch")

// SIMD reports whether the AVX2 kernels are in use on this machine.
func SIMD() bool { return simd }

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
	wg   sync.WaitGroup

	// The call in progress.
	t          gguf.Type
	w          []byte
	cols, rb   int
	x, y       []float32
	useSIMD    bool
	dequantErr error
	errMu      sync.Mutex
}

// Do sets y[r] = Σ_c W[r][c]·x[c] for the rows x cols matrix W of type t
// stored in w (GGUF layout: rows of cols elements in t's blocks).
func (m *MatVec) Do(t gguf.Type, w []byte, rows, cols int, x, y []float32) error {
	rb, err := t.RowBytes(cols)
	if err != nil {
		return fmt.Errorf("kernels: %w", err)
	}
	if len(w) < rows*rb || len(x) < cols || len(y) < rows {
		return fmt.Errorf("%w: %d×%d %s needs %d bytes (have %d), x of %d (have %d), y of %d (have %d)",
			ErrShape, rows, cols, t, rows*rb, len(w), cols, len(x), rows, len(y))
	}
	if !quant.CanDequantize(t) {
		return fmt.Errorf("kernels: %s weights: %w", t, quant.ErrUnsupported)
	}
	m.t, m.w, m.cols, m.rb, m.x, m.y = t, w, cols, rb, x[:cols], y[:rows]
	m.useSIMD = simd && !m.Portable
	m.dequantErr = nil
	switch t {
	case gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0, gguf.TypeQ4_K, gguf.TypeQ6_K:
		m.quantizeInput()
	case gguf.TypeF16, gguf.TypeBF16:
		m.roundInput()
	}
	// Spread rows so each part gets a few thousand multiply-adds at least.
	parallel(rows, max(1, 16384/cols), maxParts, &m.wg, m)
	m.x, m.y, m.w = nil, nil, nil
	return m.dequantErr
}

// quantizeInput quantizes x to Q8_0 blocks as ggml does for Q8_0/Q4_0 dot
// products: per 32 values, d = max|x| / 127 and q = round(x / d).
func (m *MatVec) quantizeInput() {
	nb := m.cols / quant.QK
	m.xq = grow(m.xq, m.cols)
	m.xd = grow(m.xd, nb)
	m.xs = grow(m.xs, nb)
	for b := range nb {
		blk := m.x[b*quant.QK : (b+1)*quant.QK]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		m.xd[b] = d
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sum int32
		for i, v := range blk {
			q := int8(math.Round(float64(v * id)))
			m.xq[b*quant.QK+i] = q
			sum += int32(q)
		}
		m.xs[b] = sum
	}
}

// roundInput rounds x to the weights' 16-bit type, as llama.cpp's CPU
// backend converts activations before an F16/BF16 dot product.
func (m *MatVec) roundInput() {
	m.xr = grow(m.xr, m.cols)
	for i, v := range m.x {
		if m.t == gguf.TypeF16 {
			m.xr[i] = quant.F16ToF32(quant.F32ToF16(v))
		} else {
			m.xr[i] = math.Float32frombits((math.Float32bits(v) + 0x7fff + (math.Float32bits(v)>>16)&1) &^ 0xffff)
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// run multiplies rows [lo, hi).
func (m *MatVec) run(part, lo, hi int) {
	nb := m.cols / max(1, m.t.BlockSize())
	switch {
	case m.t == gguf.TypeF32 && m.useSIMD:
		simdF32(m.w, m.x, m.y, lo, hi, m.cols)
	case m.t == gguf.TypeF16 && m.useSIMD:
		simdF16(m.w, m.xr, m.y, lo, hi, m.cols)
	case m.t == gguf.TypeQ8_0 && m.useSIMD:
		simdQ8_0(m.w, m.xq, m.xd, m.y, lo, hi, nb)
	case m.t == gguf.TypeQ4_0 && m.useSIMD:
		simdQ4_0(m.w, m.xq, m.xd, m.y, lo, hi, nb)
	case m.t == gguf.TypeQ4_K && m.useSIMD:
		simdQ4_K(m.w, m.xq, m.xd, m.xs, m.y, lo, hi, nb)
	case m.t == gguf.TypeQ6_K && m.useSIMD:
		simdQ6_K(m.w, m.xq, m.xd, m.y, lo, hi, nb)
	case m.t == gguf.TypeQ5_0 && m.useSIMD:
		simdQ5_0(m.w, m.xq, m.xd, m.y, lo, hi, nb)
	case m.t == gguf.TypeF32:
		for r := lo; r < hi; r++ {
			m.y[r] = dotF32Bytes(m.w[r*m.rb:(r+1)*m.rb], m.x)
		}
	case m.t == gguf.TypeQ8_0:
		for r := lo; r < hi; r++ {
			m.y[r] = dotQ8_0(m.w[r*m.rb:(r+1)*m.rb], m.xq, m.xd)
		}
	case m.t == gguf.TypeQ4_0:
		for r := lo; r < hi; r++ {
			m.y[r] = dotQ4_0(m.w[r*m.rb:(r+1)*m.rb], m.xq, m.xd)
		}
	case m.t == gguf.TypeQ4_K:
		for r := lo; r < hi; r++ {
			m.y[r] = dotQ4_K(m.w[r*m.rb:(r+1)*m.rb], m.xq, m.xd, m.xs)
		}
	case m.t == gguf.TypeQ6_K:
		for r := lo; r < hi; r++ {
			m.y[r] = dotQ6_K(m.w[r*m.rb:(r+1)*m.rb], m.xq, m.xd)
		}
	case m.t == gguf.TypeQ5_0:
		for r := lo; r < hi; r++ {
			m.y[r] = dotQ5_0(m.w[r*m.rb:(r+1)*m.rb], m.xq, m.xd)
		}
	default:
		// Other types: dequantize each row, then an f32 dot.
		x := m.x
		if m.t == gguf.TypeF16 || m.t == gguf.TypeBF16 {
			x = m.xr
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
			m.y[r] = Dot(row, x)
		}
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
