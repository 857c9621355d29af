package ops

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
)

// Weight is a matrix uploaded in its stored type: Rows rows of Cols
// elements. A matrix larger than the device's storage-buffer range is
// held in chunks of whole rows, each bound on its own.
type Weight struct {
	Name       string
	Type       gguf.Type
	Rows, Cols int
	Chunks     []Chunk
}

// Chunk is a run of rows of a Weight in one buffer.
type Chunk struct {
	Buf        *vk.Buffer
	Row0, Rows int
}

// Bytes returns the device memory the weight uses.
func (w *Weight) Bytes() uint64 {
	var n uint64
	for _, c := range w.Chunks {
		n += c.Buf.Size()
	}
	return n
}

// Close frees the weight's buffers.
func (w *Weight) Close() {
	for _, c := range w.Chunks {
		c.Buf.Close()
	}
	w.Chunks = nil
}

// Upload copies a matrix of type t (rows x cols, data in GGUF layout) to
// the device.
func (k *Kernels) Upload(name string, t gguf.Type, rows, cols int, data []byte) (*Weight, error) {
	if !Supported(t) {
		return nil, fmt.Errorf("ops: tensor %q: type %s has no shader", name, t)
	}
	rowBytes, err := t.RowBytes(cols)
	if rows <= 0 || cols <= 0 || err != nil {
		return nil, fmt.Errorf("ops: tensor %q: %d rows of %d %s elements", name, rows, cols, t)
	}
	if rowBytes*rows != len(data) {
		return nil, fmt.Errorf("ops: tensor %q: %d bytes for %d rows of %d", name, len(data), rows, rowBytes)
	}
	limit := int(min(k.Dev.Info.MaxStorageBufferRange, 1<<31))
	perChunk := max(limit/rowBytes, 1)
	if perChunk < rows {
		perChunk = perChunk &^ 63 // keep chunk boundaries well aligned
		if perChunk == 0 {
			return nil, fmt.Errorf("ops: tensor %q: a %d-byte row exceeds the device's storage range", name, rowBytes)
		}
	}
	w := &Weight{Name: name, Type: t, Rows: rows, Cols: cols}
	for r := 0; r < rows; r += perChunk {
		n := min(perChunk, rows-r)
		buf, err := k.Dev.NewBuffer(uint64(n*rowBytes), vk.DeviceLocal)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("ops: tensor %q: %w", name, err)
		}
		w.Chunks = append(w.Chunks, Chunk{Buf: buf, Row0: r, Rows: n})
		if err := buf.Write(0, data[r*rowBytes:(r+n)*rowBytes]); err != nil {
			w.Close()
			return nil, fmt.Errorf("ops: tensor %q: %w", name, err)
		}
	}
	return w, nil
}

// Floats uploads v (norm weights, biases, tables) to a new device buffer.
func (k *Kernels) Floats(v []float32) (*vk.Buffer, error) {
	b, err := k.Dev.NewBuffer(uint64(4*len(v)), vk.DeviceLocal)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	if err := b.Write(0, raw); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
