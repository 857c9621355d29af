package bert

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Tensor is one weight as stored in the file; see model.Tensor.
type Tensor = model.Tensor

// loadTensor looks up name in f and checks its shape against want
// (Dims[0] first) and that its type can be dequantized, with this
// package's sentinel errors.
func loadTensor(f *gguf.File, name string, want ...int) (Tensor, error) {
	t, err := model.LoadTensor(f, name, want...)
	switch {
	case errors.Is(err, model.ErrUnsupported):
		return Tensor{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
	case err != nil:
		return Tensor{}, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return t, nil
}
