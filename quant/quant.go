package quant

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// ErrUnsupported is returned for a type this package cannot convert.
var ErrUnsupported = errors.New("quant: unsupported type")

// CanQuantize reports whether Quantize supports t.
func CanQuantize(t gguf.Type) bool {
	return traits[t].Quantize != nil
}

// Quantize converts src, a whole number of t's blocks, to type t.
func Quantize(t gguf.Type, src []float32) ([]byte, error) {
	fn := traits[t].Quantize
	if fn == nil {
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

// QuantizeTo is Quantize into dst, which must hold exactly src's blocks
// (for callers that quantize often, as a KV cache storing each token).
func QuantizeTo(t gguf.Type, src []float32, dst []byte) error {
	fn := traits[t].Quantize
	if fn == nil {
		return fmt.Errorf("%w: quantize to %s", ErrUnsupported, t)
	}
	n, err := t.RowBytes(len(src))
	if err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	if len(dst) != n {
		return fmt.Errorf("quant: %s: %d elements need %d bytes, got %d", t, len(src), n, len(dst))
	}
	fn(src, dst)
	return nil
}

// CanDequantize reports whether Dequantize supports t.
func CanDequantize(t gguf.Type) bool {
	_, ok := traits[t]
	return ok
}

// Dequantize converts len(dst) elements of type t held in src to float32.
// len(dst) must be a whole number of blocks and src must hold exactly them.
func Dequantize(t gguf.Type, src []byte, dst []float32) error {
	tr, ok := traits[t]
	if !ok {
		return fmt.Errorf("%w: dequantize %s", ErrUnsupported, t)
	}
	fn := tr.Dequantize
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
