package quant

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/model/gguf"
)

// ErrUnsupported is returned for a type this package cannot convert.
var ErrUnsupported = errors.New("quant: unsupported type")

// dequantizers convert whole blocks of src into dst.
var dequantizers = map[gguf.Type]func(src []byte, dst []float32){
	gguf.TypeF32:  dequantF32,
	gguf.TypeF16:  dequantF16,
	gguf.TypeBF16: dequantBF16,
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
