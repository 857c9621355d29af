//go:build !cgo || !amd64

package kernels

func simdGELU(x []float32, tab *geluTab) { panic("kernels: no SIMD build") }

func simdLayerNorm(out, x, w, bias []float32, eps float32) { panic("kernels: no SIMD build") }
