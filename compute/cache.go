package compute

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vkinfer/vkinfer/gguf"
)

// ErrKVType is wrapped by the errors for a KV cache type executors do
// not store, or a cache width the type cannot hold.
var ErrKVType = errors.New("compute: KV cache type")

// KVTypes are the types a KV cache may store, by their --kv-type names.
// On every executor:
//   - f16 (llama.cpp's default): keys and values are rounded to f16 as
//     they are stored, queries to f16 before their product with the keys
//     and the attention weights before theirs with the values (llama.cpp's
//     f16 attention products convert them); 2 bytes a value.
//   - q8_0: each row's keys and values are quantized in blocks of 32 as
//     they are stored (ggml's Q8_0: d = max|x|/127 kept as f16, q =
//     round(x/d)); queries and weights stay f32; 34 bytes per 32 values.
//   - f32: nothing is rounded; 4 bytes a value.
var KVTypes = map[string]gguf.Type{"f16": gguf.TypeF16, "q8_0": gguf.TypeQ8_0, "f32": gguf.TypeF32}

// ParseKVType returns the type KVTypes names name (case-insensitive).
func ParseKVType(name string) (gguf.Type, error) {
	if t, ok := KVTypes[strings.ToLower(name)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("%w %q: want f16, q8_0 or f32", ErrKVType, name)
}

// Check returns an error wrapping ErrKVType for a type not in KVTypes or
// a width the type's blocks do not divide.
func (c CacheShape) Check() error {
	switch c.Type {
	case gguf.TypeF16, gguf.TypeF32:
	case gguf.TypeQ8_0:
		if c.Width%32 != 0 {
			return fmt.Errorf("%w: q8_0 keeps blocks of 32 values, a row of %d is not a whole number of them", ErrKVType, c.Width)
		}
	default:
		return fmt.Errorf("%w %s: want F16, Q8_0 or F32", ErrKVType, c.Type)
	}
	return nil
}

// RowBytes is the bytes of one layer's keys (or values) of one cell, as
// ggml lays out Type: 4 or 2 a value, or 34 per block of 32.
func (c CacheShape) RowBytes() int {
	n, err := c.Type.RowBytes(c.Width)
	if err != nil {
		return 4 * c.Width // a shape Check refuses
	}
	return n
}

// CellBytes is the bytes of one cell over every layer, keys and values.
func (c CacheShape) CellBytes() int { return 2 * c.Layers * c.RowBytes() }
