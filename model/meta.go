package model

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// Meta reads an architecture's "{arch}.*" hyper-parameters and checks its
// tensors, keeping the first error, so that a config reader and a loader
// are one line per key or tensor and one error check at the end.
type Meta struct {
	F    *gguf.File
	Arch string
	Err  error // the first error
	read map[string]bool
}

func (m *Meta) fail(err error) {
	if m.Err == nil {
		m.Err = err
	}
}

// Int returns {arch}.key, or def when the key is absent and def >= 0 (a
// negative def makes the key required).
func (m *Meta) Int(key string, def int) int {
	v, err := m.F.Uint(m.Arch + "." + key)
	switch {
	case errors.Is(err, gguf.ErrNotFound) && def >= 0:
		return def
	case err != nil:
		m.fail(err)
		return 0
	case v > 1<<31:
		m.fail(fmt.Errorf("%w: %s.%s = %d is out of range", ErrShape, m.Arch, key, v))
		return 0
	}
	return int(v)
}

// Float returns {arch}.key, or def when the key is absent.
func (m *Meta) Float(key string, def float64) float32 {
	v, err := m.F.Float(m.Arch + "." + key)
	if errors.Is(err, gguf.ErrNotFound) {
		return float32(def)
	}
	if err != nil {
		m.fail(err)
	}
	return float32(v)
}

// Bool returns {arch}.key, or def when the key is absent.
func (m *Meta) Bool(key string, def bool) bool {
	v, err := m.F.Bool(m.Arch + "." + key)
	if errors.Is(err, gguf.ErrNotFound) {
		return def
	}
	if err != nil {
		m.fail(err)
	}
	return v
}

// Tensor checks that the file holds tensor name with dims and records it
// as read, for Unread.
func (m *Meta) Tensor(name string, dims ...int) {
	if m.read == nil {
		m.read = map[string]bool{}
	}
	m.read[name] = true
	if _, err := LoadTensor(m.F, name, dims...); err != nil {
		m.fail(err)
	}
}

// Unread returns the first error, else CheckTensors' refusal of a tensor
// that Tensor did not read.
func (m *Meta) Unread() error {
	if m.Err != nil {
		return m.Err
	}
	return CheckTensors(m.F, m.Arch, m.read)
}
