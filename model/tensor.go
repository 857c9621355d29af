package model

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
)

// Sentinel errors of model loading; returned errors wrap them with the
// tensor or key at fault.
var (
	// ErrShape: a tensor is missing or its shape disagrees with the
	// hyper-parameters.
	ErrShape = errors.New("model: bad tensor")
	// ErrUnsupported: the file uses a tensor type or feature vkinfer
	// cannot run.
	ErrUnsupported = errors.New("model: unsupported")
)

// Tensor is one weight as stored in the file: its element type, its shape
// (Dims[0] is the row length, as in ggml) and its bytes, a read-only view
// into the GGUF mapping that stays valid until the file is closed. Backends
// upload or read Data in its stored (quantized) form.
type Tensor struct {
	Name string
	Type gguf.Type
	Dims []int
	Data []byte
}

// Present reports whether the tensor was found (optional weights are zero
// Tensors when absent).
func (t *Tensor) Present() bool { return len(t.Dims) > 0 }

// Cols returns the row length (0 for a zero Tensor).
func (t *Tensor) Cols() int {
	if len(t.Dims) == 0 {
		return 0
	}
	return t.Dims[0]
}

// Rows returns the number of rows: 1 for a vector, 0 for a zero Tensor.
func (t *Tensor) Rows() int {
	if len(t.Dims) == 0 {
		return 0
	}
	n := 1
	for _, d := range t.Dims[1:] {
		n *= d
	}
	return n
}

// RowBytes returns the size of one row in bytes.
func (t *Tensor) RowBytes() int {
	if t.Rows() == 0 {
		return 0
	}
	return len(t.Data) / t.Rows()
}

// Row dequantizes row i into dst, which must hold Cols() elements.
func (t *Tensor) Row(i int, dst []float32) error {
	if i < 0 || i >= t.Rows() {
		return fmt.Errorf("model: tensor %q: row %d of %d", t.Name, i, t.Rows())
	}
	if len(dst) != t.Cols() {
		return fmt.Errorf("model: tensor %q: row of %d elements into %d", t.Name, t.Cols(), len(dst))
	}
	n := t.RowBytes()
	if err := quant.Dequantize(t.Type, t.Data[i*n:(i+1)*n], dst); err != nil {
		return fmt.Errorf("model: tensor %q: %w", t.Name, err)
	}
	return nil
}

// Float32 dequantizes the whole tensor.
func (t *Tensor) Float32() ([]float32, error) {
	out := make([]float32, t.Cols()*t.Rows())
	for i := range t.Rows() {
		if err := t.Row(i, out[i*t.Cols():(i+1)*t.Cols()]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LoadTensor looks up name in f and checks its shape against want
// (Dims[0] first), that its bytes match the shape, and that package quant
// can dequantize its type.
func LoadTensor(f *gguf.File, name string, want ...int) (Tensor, error) {
	info, err := f.Tensor(name)
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: %w", ErrShape, err)
	}
	dims := make([]int, len(info.Dims))
	for i, d := range info.Dims {
		dims[i] = int(d)
	}
	// ggml drops trailing dimensions of 1; a file may still store them.
	for len(dims) > len(want) && dims[len(dims)-1] == 1 {
		dims = dims[:len(dims)-1]
	}
	if !equalDims(dims, want) {
		return Tensor{}, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrShape, name, dims, want)
	}
	if !quant.CanDequantize(info.Type) {
		return Tensor{}, fmt.Errorf("%w: tensor %q has type %s", ErrUnsupported, name, info.Type)
	}
	t := Tensor{Name: name, Type: info.Type, Dims: dims, Data: f.TensorData(info)}
	rowBytes, err := info.Type.RowBytes(dims[0])
	if err != nil || len(t.Data) != rowBytes*t.Rows() {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %d bytes do not hold shape %v of %s", ErrShape, name, len(t.Data), dims, info.Type)
	}
	return t, nil
}

// LoadOptionalTensor is LoadTensor for a weight a model may lack: it
// returns a zero Tensor when name is absent.
func LoadOptionalTensor(f *gguf.File, name string, want ...int) (Tensor, error) {
	if _, err := f.Tensor(name); err != nil {
		return Tensor{}, nil
	}
	return LoadTensor(f, name, want...)
}

func equalDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
