package kernels

import (
	"math"
	"sync"

	"github.com/vkinfer/vkinfer/quant"
)

// GELU applies GELU to x in place as llama.cpp's CPU backend computes it:
// the tanh approximation looked up in a table of every f16 input, so the
// input is rounded to f16 and so is the result; the tails (|x| >= 10) are
// 0 and x. The lookup is also an order of magnitude faster than math.Tanh.
// The SIMD kernel looks up eight values at once (a gather), with the same
// results; portable forces the Go code.
func GELU(x []float32, portable bool) {
	t := geluTable()
	if use(portable) >= isaAVX2 {
		simdGELU(x, t)
		return
	}
	for i, v := range x {
		switch {
		case v <= -10:
			x[i] = 0
		case v >= 10:
		default:
			x[i] = quant.F16ToF32(t[quant.F32ToF16(v)])
		}
	}
}

// GELURef is GELU computed without the table: the reference the table is
// checked against, and what compute.Reference computes.
func GELURef(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	return quant.F16ToF32(geluHalf(quant.F32ToF16(x)))
}

// geluHalf is the tanh approximation at the f16 value h, as f16.
func geluHalf(h uint16) uint16 {
	const sqrt2OverPi, coef = 0.7978845608028654, 0.044715
	f := float64(quant.F16ToF32(h))
	return quant.F32ToF16(float32(0.5 * f * (1 + math.Tanh(sqrt2OverPi*f*(1+coef*f*f)))))
}

// geluTab is GELU of every f16 value, as f16, and one entry of padding:
// the SIMD kernel's gather reads 4 bytes for the last entry's 2.
type geluTab [1<<16 + 1]uint16

var (
	geluOnce sync.Once
	geluT    *geluTab
)

// geluTable returns the table, made on first use.
func geluTable() *geluTab {
	geluOnce.Do(func() {
		t := new(geluTab)
		for i := range 1 << 16 {
			t[i] = geluHalf(uint16(i))
		}
		geluT = t
	})
	return geluT
}
