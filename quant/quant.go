package quant

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// ErrUnsupported is returned for a type this package cannot convert.
var ErrUnsupported = errors.New("quant: unsupported type")

// dequantizers convert whole blocks of src into dst.
var dequantizers = map[gguf.Type]func(src []byte, dst []float32){
	gguf.TypeF32:  dequantF32,
	gguf.TypeF16:  dequantF16,
	gguf.TypeBF16: dequantBF16,
	gguf.TypeQ4_0: dequantQ4_0,
	gguf.TypeQ4_1: dequantQ4_1,
	gguf.TypeQ5_0: dequantQ5_0,
	gguf.TypeQ5_1: dequantQ5_1,
	gguf.TypeQ8_0: dequantQ8_0,
	gguf.TypeQ4_K: dequantQ4_K,
	gguf.TypeQ5_K: dequantQ5_K,
	gguf.TypeQ6_K: dequantQ6_K,
}

// quantizers convert whole blocks of src into dst.
var quantizers = map[gguf.Type]func(src []float32, dst []byte){
	gguf.TypeF32:  quantF32,
	gguf.TypeF16:  quantF16,
	gguf.TypeBF16: quantBF16,
	gguf.TypeQ4_0: quantQ4_0,
	gguf.TypeQ5_0: quantQ5_0,
	gguf.TypeQ8_0: quantQ8_0,
	gguf.TypeQ4_K: quantQ4_K,
	gguf.TypeQ6_K: quantQ6_K,
}

// CanQuantize reports whether Quantize supports t.
func CanQuantize(t gguf.Type) bool {
	_, ok := quantizers[t]
	return ok
}

// Quantize converts src, a whole number of t's blocks, to type t.
func Quantize(t gguf.Type, src []float32) ([]byte, error) {
	fn, ok := quantizers[t]
	if !ok {
		return nil, fmt.Errorf("%w: quantize to %s", ErrUnsupported, t)
	}
	n, err := t.RowBytes(len(src))
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	dst := make([]byte, n)
	fn(src, dst)
	return dst, nil
}

// CanDequantize reports whether Dequantize supports t.
func CanDequantize(t gguf.Type) bool {
	_, ok := dequantizers[t]
	return ok
}

// Dequantize converts len(dst) elements of type t held in src to float32.
// len(dst) must be a whole number of blocks and src must hold exactly them.
func Dequantize(t gguf.Type, src []byte, dst []float32) error {
	fn, ok := dequantizers[t]
	if !ok {
		return fmt.Errorf("%w: dequantize %s", ErrUnsupported, t)
	}
	n, err := t.RowBytes(len(dst))
	if err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	if len(src) != n {
		return fmt.Errorf("quant: %s: %d elements need %d bytes, got %d", t, len(dst), n, len(src))
	}
	fn(src, dst)
	return nil
}
