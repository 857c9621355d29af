package kernels

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// ErrNotPackable is returned by Repack for a matrix without a packed
// layout: another type, or rows not a multiple of PackRows.
var ErrNotPackable = errors.New("kernels: no packed layout")

// PackRows is how many weight rows a packed group interleaves: eight, one
// per 32-bit lane of an AVX2 vector (two groups fill an AVX-512 one).
const PackRows = 8

// Packed is a weight matrix in the row-interleaved layout the GEMM
// kernels (Gemm) read, made by Repack. Per group of PackRows rows and per
// block (per super-block for Q4_K), the group's block holds the eight
// rows' f16 scales, then their quants in 4-byte chunks, chunk k of the
// eight rows together:
//
//	Q8_0   (272 bytes) d[8], then chunks k 0..7 of rows 0..7: q[4k:4k+4]+128
//	Q4_0, IQ4_NL (144) d[8], then chunks k 0..3 of rows 0..7: qs[4k:4k+4]
//	Q5_0         (176) d[8], qh[8] (32), then chunks as Q4_0
//	Q4_K  (1184 bytes) d[8], dmin[8], scale[s][r] (64), min[s/2][r][s%2]
//	                   (64), then for sub-block pairs j 0..3 chunks k 0..7
//	                   of rows 0..7: qs[32j+4k:32j+4k+4]
//	Q6_K        (1680) d[8], scale[16][r] (128), then per sub-block
//	                   quad q 0..1: the low four bits of its two pairs
//	                   as Q4_K's qs (512), then chunks k 0..7 of rows
//	                   0..7 of bytes holding its four sub-blocks' high
//	                   two bits, the first lowest (256); a quad's bits
//	                   together, so a kernel reads the block in order
//
// A nibble byte keeps its two elements as in GGUF (Q4_0, Q5_0, IQ4_NL: j
// and j+16; Q4_K: sub-blocks 2j and 2j+1; Q6_K likewise). Q4_K's 6-bit
// scales and mins are unpacked to bytes, so it is 32/1152 larger than its
// GGUF form; the others are the same size.
type Packed struct {
	Type       gguf.Type
	Rows, Cols int
	Data       []byte
}

// packLayout is one packable type's layout: values per block and bytes
// per block of a group.
type packLayout struct {
	block, groupBlock int
	pack              func(dst []byte, rows [PackRows][]byte)
}

var packLayouts = map[gguf.Type]packLayout{
	gguf.TypeQ8_0:   {block: quant.QK, groupBlock: 272, pack: packQ8_0},
	gguf.TypeQ4_0:   {block: quant.QK, groupBlock: 144, pack: packQ4_0},
	gguf.TypeIQ4_NL: {block: quant.QK, groupBlock: 144, pack: packQ4_0},
	gguf.TypeQ4_K:   {block: quant.QK_K, groupBlock: 1184, pack: packQ4_K},
	gguf.TypeQ5_0:   {block: quant.QK, groupBlock: 176, pack: packQ5_0},
	gguf.TypeQ6_K:   {block: quant.QK_K, groupBlock: 1680, pack: packQ6_K},
}

// PackedSize returns the bytes of a rows×cols matrix of type t packed, or
// an error wrapping ErrNotPackable.
func PackedSize(t gguf.Type, rows, cols int) (int, error) {
	l, ok := packLayouts[t]
	switch {
	case !ok:
		return 0, fmt.Errorf("%w for %s", ErrNotPackable, t)
	case rows <= 0 || rows%PackRows != 0 || cols <= 0 || cols%l.block != 0:
		return 0, fmt.Errorf("%w for %d×%d %s (rows a multiple of %d, columns of %d)", ErrNotPackable, rows, cols, t, PackRows, l.block)
	}
	return rows / PackRows * cols / l.block * l.groupBlock, nil
}

// Repack writes the rows×cols matrix w of type t (GGUF layout) into dst
// (PackedSize bytes) in the packed layout, and returns it over dst.
func Repack(t gguf.Type, w []byte, rows, cols int, dst []byte) (*Packed, error) {
	size, err := PackedSize(t, rows, cols)
	if err != nil {
		return nil, err
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	if len(w) < rows*rb || len(dst) < size {
		return nil, fmt.Errorf("%w: packing %d×%d %s from %d bytes into %d (want %d and %d)", ErrShape, rows, cols, t, len(w), len(dst), rows*rb, size)
	}
	// A 1B model's matrices are gigabytes: the groups go over the workers.
	task := &repackTask{l: packLayouts[t], w: w, dst: dst, rb: rb, nb: cols / packLayouts[t].block}
	var split Split
	parallel(rows/PackRows, 64, maxParts, &split, task)
	return &Packed{Type: t, Rows: rows, Cols: cols, Data: dst[:size]}, nil
}

// repackTask packs a range of groups of one matrix.
type repackTask struct {
	l      packLayout
	w, dst []byte
	rb, nb int // GGUF bytes per row, blocks per row
}

func (p *repackTask) run(_, lo, hi int) {
	bb := p.rb / p.nb // GGUF bytes per block
	var blocks [PackRows][]byte
	for g := lo; g < hi; g++ {
		for b := range p.nb {
			for r := range PackRows {
				o := (g*PackRows+r)*p.rb + b*bb
				blocks[r] = p.w[o : o+bb]
			}
			p.l.pack(p.dst[(g*p.nb+b)*p.l.groupBlock:][:p.l.groupBlock], blocks)
		}
	}
}

// putScales copies each row's f16 scale at off into dst, row by row.
func putScales(dst []byte, rows [PackRows][]byte, off int) {
	for r, b := range rows {
		dst[2*r], dst[2*r+1] = b[off], b[off+1]
	}
}

// putChunks lays out n 4-byte chunks of each row's bytes q (at off in its
// block) chunk by chunk: chunk k of row r at 32k+4r.
func putChunks(dst []byte, rows [PackRows][]byte, off, n int) {
	for k := range n {
		for r, b := range rows {
			copy(dst[32*k+4*r:][:4], b[off+4*k:])
		}
	}
}

// packQ8_0 stores each quant plus 128, unsigned, as VNNI's vpdpbusd
// takes it (the others flip the bit back).
func packQ8_0(dst []byte, rows [PackRows][]byte) {
	putScales(dst, rows, 0)
	putChunks(dst[16:], rows, 2, 8)
	for i := 16; i < 272; i++ {
		dst[i] ^= 0x80
	}
}

func packQ4_0(dst []byte, rows [PackRows][]byte) {
	putScales(dst, rows, 0)
	putChunks(dst[16:], rows, 2, 4)
}

func packQ4_K(dst []byte, rows [PackRows][]byte) {
	putScales(dst, rows, 0)
	putScales(dst[16:], rows, 2)
	for r, b := range rows {
		for s := range 8 {
			sc, mn := quant.ScaleMinK4(s, b[4:16])
			dst[32+8*s+r] = sc
			dst[96+16*(s/2)+2*r+s%2] = mn
		}
	}
	for j := range 4 {
		putChunks(dst[160+256*j:], rows, 16+32*j, 8)
	}
}

func packQ5_0(dst []byte, rows [PackRows][]byte) {
	putScales(dst, rows, 0)
	for r, b := range rows {
		copy(dst[16+4*r:][:4], b[2:6])
	}
	putChunks(dst[48:], rows, 6, 4)
}

// q6Low and q6High are where a packed Q6_K group's block keeps the low
// bits of sub-block pair j and the high bits of sub-block quad q.
func q6Low(j int) int  { return 144 + 768*(j/2) + 256*(j%2) }
func q6High(q int) int { return 144 + 768*q + 512 }

// packQ6_K unpacks each row's 256 six-bit values (quant's Q6_K layout:
// per half h and l < 32, ql[64h+l] and ql[64h+l+32] hold the low bits of
// elements 128h+l, +32 in their low nibbles and +64, +96 in their high
// ones, qh[32h+l] the high bits of the four, two each, lowest first) and
// lays them out as Packed says.
func packQ6_K(dst []byte, rows [PackRows][]byte) {
	putScales(dst, rows, 208)
	var u [quant.QK_K]byte
	for r, b := range rows {
		for e := range 16 {
			dst[16+8*e+r] = b[192+e]
		}
		for h := range 2 {
			ql, qh := b[64*h:], b[128+32*h:]
			for l := range 32 {
				u[128*h+l] = ql[l]&0xF | (qh[l]&3)<<4
				u[128*h+l+32] = ql[l+32]&0xF | (qh[l]>>2&3)<<4
				u[128*h+l+64] = ql[l]>>4 | (qh[l]>>4&3)<<4
				u[128*h+l+96] = ql[l+32]>>4 | (qh[l]>>6&3)<<4
			}
		}
		for j := range 4 {
			for k := range 8 {
				for e := range 4 {
					i := 4*k + e
					dst[q6Low(j)+32*k+4*r+e] = u[64*j+i]&0xF | (u[64*j+32+i]&0xF)<<4
				}
			}
		}
		for q := range 2 {
			for k := range 8 {
				for e := range 4 {
					i := 4*k + e
					var v byte
					for t := range 4 {
						v |= (u[32*(4*q+t)+i] >> 4) << (2 * t)
					}
					dst[q6High(q)+32*k+4*r+e] = v
				}
			}
		}
	}
}
