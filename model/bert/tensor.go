package bert

import (
	"fmt"

	"github.com/vkinfer/vkinfer/model/gguf"
	"github.com/vkinfer/vkinfer/model/quant"
)

// Tensor is one weight as stored in the file: its element type, its shape
// (Dims[0] is the row length, as in ggml) and its bytes, a read-only view
// into the GGUF mapping that stays valid until the file is closed.
type Tensor struct {
	Name string
	Type gguf.Type
	Dims []int
	Data []byte
}

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
		return fmt.Errorf("bert: tensor %q: row %d of %d", t.Name, i, t.Rows())
	}
	if len(dst) != t.Cols() {
		return fmt.Errorf("bert: tensor %q: row of %d elements into %d", t.Name, t.Cols(), len(dst))
	}
	n := t.RowBytes()
	if err := quant.Dequantize(t.Type, t.Data[i*n:(i+1)*n], dst); err != nil {
		return fmt.Errorf("bert: tensor %q: %w", t.Name, err)
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

// loadTensor looks up name in f and checks its shape against want
// (Dims[0] first) and that its type can be dequantized.
func loadTensor(f *gguf.File, name string, want ...int) (Tensor, error) {
	info, err := f.Tensor(name)
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: %w", ErrModel, err)
	}
	dims := make([]int, len(info.Dims))
	for i, d := range info.Dims {
		dims[i] = int(d)
	}
	// ggml drops trailing dimensions of 1; a file may still store them.
	for len(dims) > len(want) && dims[len(dims)-1] == 1 {
		dims = dims[:len(dims)-1]
	}
	if len(dims) != len(want) {
		return Tensor{}, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrModel, name, dims, want)
	}
	for i := range want {
		if dims[i] != want[i] {
			return Tensor{}, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrModel, name, dims, want)
		}
	}
	if !quant.CanDequantize(info.Type) {
		return Tensor{}, fmt.Errorf("%w: tensor %q has type %s, which package quant cannot dequantize", ErrUnsupported, name, info.Type)
	}
	rowBytes, err := info.Type.RowBytes(dims[0])
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %w", ErrModel, name, err)
	}
	t := Tensor{Name: name, Type: info.Type, Dims: dims, Data: f.TensorData(info)}
	if len(t.Data) != rowBytes*t.Rows() {
		return Tensor{}, fmt.Errorf("%w: tensor %q holds %d bytes, its shape needs %d", ErrModel, name, len(t.Data), rowBytes*t.Rows())
	}
	return t, nil
}
