package kernels

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// gemmFunc is one kernel set's GEMM over packed weights: groups [g0, g1)
// times n quantized inputs (input i's values at xq[i*cols:], its block
// scales and sums at xd, xs[i*nb32:]), input i's outputs at y[i*rows:].
type gemmFunc func(p *Packed, in *gemmIn, y []float32, g0, g1 int)

// gemmIn is a batch of quantized inputs as the GEMM kernels take them.
type gemmIn struct {
	xq []int8
	xd []float32
	xs []int32
	n  int
}

// gemmSets holds each packable type's C kernels per set (avx2, avx512,
// vnni; bf16 runs vnni's), filled by the C build (gemm_amd64.go).
var gemmSets = map[gguf.Type]*[3]gemmFunc{}

// gemmKernel returns set v's GEMM for t: its C kernel, the best below v
// that exists, or the Go reference.
func gemmKernel(t gguf.Type, v isa) gemmFunc {
	if s := gemmSets[t]; s != nil {
		for i := min(int(v)-int(isaAVX2), len(s)-1); i >= 0; i-- {
			if s[i] != nil {
				return s[i]
			}
		}
	}
	return gemmGo
}

// Gemm multiplies packed weights by a batch of inputs. One input is the
// decode step's matrix-vector product and many a prompt's GEMM, with the
// same sums: every output equals what a batch of that input alone gives,
// on every kernel set (see gemm_amd64.c). It keeps the quantized inputs,
// so a Gemm serves one caller at a time; a warm call allocates nothing.
type Gemm struct {
	// Portable forces the Go kernels even where SIMD ones exist.
	Portable bool

	xq    []int8
	xd    []float32
	xs    []int32
	quant quantTask
	split Split

	// The call in progress.
	p      *Packed
	in     gemmIn
	y      []float32
	kernel gemmFunc
}

// Do sets y[i·Rows+r] = Σ_c W[r][c]·x[i·Cols+c] for the n inputs in x,
// with W the packed matrix p. The inputs are quantized once, as MatVec
// quantizes them for p's type (Q8_0 blocks, or Q8_K for Q4_K).
func (g *Gemm) Do(p *Packed, x []float32, n int, y []float32) error {
	if len(x) < n*p.Cols || len(y) < n*p.Rows {
		return fmt.Errorf("%w: %d inputs of %d×%d %s need %d values in and %d out (have %d, %d)",
			ErrShape, n, p.Rows, p.Cols, p.Type, n*p.Cols, n*p.Rows, len(x), len(y))
	}
	if n == 0 {
		return nil
	}
	v := use(g.Portable)
	g.quantize(v, p, x, n)
	g.p, g.y, g.kernel = p, y, gemmKernel(p.Type, v)
	groups := p.Rows / PackRows
	// Two groups per part at least (an AVX-512 step), and a few thousand
	// multiply-adds.
	parallel(groups, max(2, 2048/(p.Cols*n/PackRows+1)), maxParts, &g.split, g)
	g.p, g.y = nil, nil
	return nil
}

// quantize quantizes the n inputs for p's type with set v's quantizer,
// the inputs split over the workers (each input on its own, so the split
// does not change the result).
func (g *Gemm) quantize(v isa, p *Packed, x []float32, n int) {
	cols, nb := p.Cols, p.Cols/quant.QK
	g.xq, g.xd, g.xs = grow(g.xq, n*cols), grow(g.xd, n*nb), grow(g.xs, n*nb)
	g.quant = quantTask{g: g, v: v, x: x, cols: cols, k: activations(p.Type) == quant.ActQ8_K, pairs16: p.Type == gguf.TypeQ6_K}
	parallel(n, max(1, 4096/cols), maxParts, &g.split, &g.quant)
	g.quant = quantTask{} // hold no caller memory
	g.in = gemmIn{xq: g.xq, xd: g.xd, xs: g.xs, n: n}
}

// quantTask quantizes a range of a Gemm's inputs.
type quantTask struct {
	g    *Gemm
	v    isa
	x    []float32
	cols int
	k    bool // Q8_K, else Q8_0 with f16 scales
	// For Q6_K, whose scales cover 16 values: xs holds 16-value sums in
	// pairs (pairSums16) in place of the 32-value sums.
	pairs16 bool
}

func (q *quantTask) run(_, lo, hi int) {
	g, cols, nb := q.g, q.cols, q.cols/quant.QK
	for i := lo; i < hi; i++ {
		xi, xq, xd, xs := q.x[i*cols:(i+1)*cols], g.xq[i*cols:(i+1)*cols], g.xd[i*nb:(i+1)*nb], g.xs[i*nb:(i+1)*nb]
		if q.k {
			quantizeQ8K(q.v, xi, xq, xd, xs)
			if q.pairs16 {
				pairSums16(xq, xs)
			}
			continue
		}
		quantize(q.v, xi, xq, xd, xs)
		for b, d := range xd {
			xd[b] = quant.F16ToF32(quant.F32ToF16(d))
		}
	}
}

// pairSums16 sets xs[p] to the sums of x's 16-value groups 2p and 2p+1
// as int16s, 2p low, in one int32: the form a madd of int16 scale pairs
// takes (the Q6_K kernels' q6_offset). A group's sum, at most 16·127 in
// size, fits.
func pairSums16(x []int8, xs []int32) {
	for p := range xs {
		var lo, hi int32
		for _, v := range x[32*p : 32*p+16] {
			lo += int32(v)
		}
		for _, v := range x[32*p+16 : 32*p+32] {
			hi += int32(v)
		}
		xs[p] = hi<<16 | lo&0xFFFF
	}
}

func (g *Gemm) run(_, lo, hi int) { g.kernel(g.p, &g.in, g.y, lo, hi) }

// gemmGo is the Go reference of the GEMM kernels: output by output, the
// C kernels' exact operations (gemm_amd64.c), with fma32 for vfmadd.
func gemmGo(p *Packed, in *gemmIn, y []float32, g0, g1 int) {
	l := packLayouts[p.Type]
	nb := p.Cols / l.block
	nb32 := p.Cols / quant.QK
	var isum, imin [PackRows]int32
	for g := g0; g < g1; g++ {
		wg := p.Data[g*nb*l.groupBlock:][:nb*l.groupBlock]
		for i := range in.n {
			xq, xd, xs := in.xq[i*p.Cols:][:p.Cols], in.xd[i*nb32:][:nb32], in.xs[i*nb32:][:nb32]
			var acc [PackRows]float32
			for b := range nb {
				blk := wg[b*l.groupBlock:][:l.groupBlock]
				if p.Type == gguf.TypeQ4_K {
					isumQ4_K(blk, xq[b*quant.QK_K:], xs[b*8:], &isum, &imin)
					dx := xd[b*8]
					for r := range acc {
						acc[r] = fma32(f16At(blk[2*r:])*dx, float32(isum[r]), acc[r])
						acc[r] = fma32(-(f16At(blk[16+2*r:]) * dx), float32(imin[r]), acc[r])
					}
					continue
				}
				if p.Type == gguf.TypeQ6_K {
					isumQ6_K(blk, xq[b*quant.QK_K:], &isum)
					dx := xd[b*8]
					for r := range acc {
						acc[r] = fma32(f16At(blk[2*r:])*dx, float32(isum[r]), acc[r])
					}
					continue
				}
				isum32(p.Type, blk, xq[b*quant.QK:], &isum)
				for r := range acc {
					s := isum[r]
					switch p.Type {
					case gguf.TypeQ4_0:
						s -= 8 * xs[b]
					case gguf.TypeQ5_0:
						s -= 16 * xs[b]
					}
					acc[r] = fma32(f16At(blk[2*r:])*xd[b], float32(s), acc[r])
				}
			}
			copy(y[i*p.Rows+g*PackRows:][:PackRows], acc[:])
		}
	}
}

// isum32 sets isum[r] to row r's integer dot of one packed block of a
// 32-block type with the input block x (for Q4_0 and Q5_0 the values as
// stored, 0..15 or 0..31: the caller takes off 8·Σx or 16·Σx).
func isum32(t gguf.Type, blk []byte, x []int8, isum *[PackRows]int32) {
	*isum = [PackRows]int32{}
	q := blk[16:]
	if t == gguf.TypeQ5_0 {
		q = blk[48:]
	}
	if t == gguf.TypeQ8_0 {
		for k := range 8 {
			for r := range PackRows {
				for e := range 4 {
					isum[r] += int32(int8(q[32*k+4*r+e]^0x80)) * int32(x[4*k+e])
				}
			}
		}
		return
	}
	for k := range 4 {
		for r := range PackRows {
			for e := range 4 {
				c := q[32*k+4*r+e]
				lo, hi := int32(c&0xF), int32(c>>4)
				switch t {
				case gguf.TypeIQ4_NL:
					lo, hi = int32(quant.KValuesIQ4NL[lo]), int32(quant.KValuesIQ4NL[hi])
				case gguf.TypeQ5_0:
					qh := uint32(blk[16+4*r]) | uint32(blk[17+4*r])<<8 | uint32(blk[18+4*r])<<16 | uint32(blk[19+4*r])<<24
					lo |= int32(qh>>(4*k+e)&1) << 4
					hi |= int32(qh>>(16+4*k+e)&1) << 4
				}
				isum[r] += lo*int32(x[4*k+e]) + hi*int32(x[16+4*k+e])
			}
		}
	}
}

// isumQ4_K sets, for one packed Q4_K super-block and its input x (256
// values, sub-block sums xs), isum[r] = Σ_s scale[s][r]·Σ q·x and
// imin[r] = Σ_s min[s][r]·xs[s].
func isumQ4_K(blk []byte, x []int8, xs []int32, isum, imin *[PackRows]int32) {
	*isum, *imin = [PackRows]int32{}, [PackRows]int32{}
	for r := range PackRows {
		for s := range 8 {
			j, h := s/2, uint(4*(s%2))
			var d int32
			for k := range 8 {
				for e := range 4 {
					d += int32(blk[160+256*j+32*k+4*r+e]>>h&0xF) * int32(x[32*s+4*k+e])
				}
			}
			isum[r] += int32(blk[32+8*s+r]) * d
			imin[r] += int32(blk[96+16*j+2*r+s%2]) * xs[s]
		}
	}
}

// isumQ6_K sets isum[r] to Σ over the 16-value groups of a packed Q6_K
// super-block of scale·Σ (q−32)·x, with x the input's 256 values.
func isumQ6_K(blk []byte, x []int8, isum *[PackRows]int32) {
	*isum = [PackRows]int32{}
	for r := range PackRows {
		for s := range 8 {
			j, t := s/2, uint(4*(s%2))
			var d [2]int32
			for i := range 32 {
				k, e := i/4, i%4
				lo := int32(blk[q6Low(j)+32*k+4*r+e]>>t) & 0xF
				hi := int32(blk[q6High(s/4)+32*k+4*r+e]>>(2*(s%4))) & 3
				d[i/16] += (lo | hi<<4 - 32) * int32(x[32*s+i])
			}
			isum[r] += int32(int8(blk[16+8*(2*s)+r]))*d[0] + int32(int8(blk[16+8*(2*s+1)+r]))*d[1]
		}
	}
}

// fma32 returns a·b+c rounded once to float32, as vfmadd computes it. The
// product is exact in float64; the sum rounded to float64 then to float32
// is the once-rounded result except when the float64 sum lands on a
// float32 midpoint it was rounded onto, where the exact sum's side of it
// (the sum's rounding error) decides.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	r := float32(s)
	if float64(r) == s || math.IsInf(float64(r), 0) {
		return r
	}
	bv := s - p
	e := (p - (s - bv)) + (float64(c) - bv) // TwoSum: s + e is exact
	if e == 0 {
		return r
	}
	toward := float32(math.Inf(1))
	if s < float64(r) {
		toward = float32(math.Inf(-1))
	}
	other := math.Nextafter32(r, toward)
	if (float64(r)+float64(other))/2 != s {
		return r
	}
	if (e > 0) == (other > r) {
		return other
	}
	return r
}
