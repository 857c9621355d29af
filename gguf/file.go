package gguf

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// TensorInfo describes one tensor. Dims[0] is the innermost (row) length,
// as in ggml. Offset is relative to the start of the data section.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   Type
	Offset uint64
	Size   int64 // bytes
}

// Elements returns the number of elements in the tensor.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= int64(d)
	}
	return n
}

// File is a parsed GGUF file. Its tensor data stays in the memory mapping
// (or the slice given to Parse) until Close.
type File struct {
	Name       string
	Version    uint32
	Alignment  int
	KV         []KV
	Tensors    []TensorInfo
	DataOffset int // start of the data section in the file

	headerSize  int // bytes before the alignment padding of the data section
	index       map[string]int
	tensorIndex map[string]int
	data        []byte
	mapped      bool
	opened      identity // of the file Open mapped
}

// identity tells whether the file at a path is still the one once opened:
// the same inode, with the same size and modification time.
type identity struct {
	dev, ino uint64
	size     int64
	mtime    syscall.Timespec
}

func identityOf(st os.FileInfo) identity {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{size: st.Size()}
	}
	return identity{dev: uint64(sys.Dev), ino: sys.Ino, size: st.Size(), mtime: sys.Mtim}
}

// Open maps the file at path read-only and parses it.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: %w: not a regular file", path, ErrFormat)
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("gguf: %s: %w: empty file", path, ErrFormat)
	}
	if size != int64(int(size)) {
		return nil, fmt.Errorf("gguf: %s: file of %d bytes is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: mmap: %w", path, err)
	}
	f, err := Parse(path, data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, err
	}
	f.mapped = true
	f.opened = identityOf(st)
	return f, nil
}

// Stale returns an error wrapping ErrStale when the file at f.Name is no
// longer the one Open mapped: modified in place (the mapping then shows
// the new bytes under the old header, or faults where it was truncated)
// or replaced by another file. A path that no longer resolves (the file
// removed, its directory unreadable) leaves the mapped file intact and is
// not stale. A File from Parse is never stale.
func (f *File) Stale() error {
	if !f.mapped {
		return nil
	}
	st, err := os.Stat(f.Name)
	if err != nil {
		return nil
	}
	now := identityOf(st)
	switch {
	case now.dev != f.opened.dev || now.ino != f.opened.ino:
		return fmt.Errorf("%w: %s was replaced by another file", ErrStale, f.Name)
	case now != f.opened:
		return fmt.Errorf("%w: %s was modified in place (%d bytes, was %d)", ErrStale, f.Name, now.size, f.opened.size)
	}
	return nil
}

// Close releases the mapping. Tensor views must not be used afterwards.
func (f *File) Close() error {
	if !f.mapped || f.data == nil {
		f.data = nil
		return nil
	}
	data := f.data
	f.data = nil
	if err := syscall.Munmap(data); err != nil {
		return fmt.Errorf("gguf: %s: munmap: %w", f.Name, err)
	}
	return nil
}

// Release tells the OS that b, bytes of f's mapping (a tensor's data),
// will not be read again soon: the whole pages inside it leave the
// process's memory (they stay in the page cache) and are read from the
// file again if they are touched. A backend that keeps its own copy of a
// tensor in another layout calls it, so the tensor is not held twice.
// Bytes outside a mapping (a File from Parse) are left alone.
func (f *File) Release(b []byte) error {
	if !f.mapped || len(b) == 0 || len(f.data) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(f.data)) {
		return nil
	}
	page := uintptr(os.Getpagesize())
	lo, hi := (p-base+page-1)/page*page, (p-base+uintptr(len(b)))/page*page
	if lo >= hi {
		return nil
	}
	if err := syscall.Madvise(f.data[lo:hi], syscall.MADV_DONTNEED); err != nil {
		return fmt.Errorf("gguf: %s: madvise: %w", f.Name, err)
	}
	return nil
}

// Size returns the size of the file image in bytes.
func (f *File) Size() int { return len(f.data) }

// Lookup returns the metadata value stored under key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.index[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

func (f *File) get(key string) (Value, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: %s: metadata %q: %w", f.Name, key, ErrNotFound)
	}
	return v, nil
}

func (f *File) typeErr(key string, v Value, want string) error {
	return fmt.Errorf("gguf: %s: metadata %q is %s, want %s: %w", f.Name, key, v.Type, want, ErrValueType)
}

// String returns a string metadata value.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.Data.(string)
	if !ok {
		return "", f.typeErr(key, v, "string")
	}
	return s, nil
}

// Uint returns a non-negative integer metadata value of any integer type.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	u, ok := v.Uint()
	if !ok {
		return 0, f.typeErr(key, v, "a non-negative integer")
	}
	return u, nil
}

// Int returns an integer metadata value of any integer type.
func (f *File) Int(key string) (int64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	i, ok := v.Int()
	if !ok {
		return 0, f.typeErr(key, v, "an integer")
	}
	return i, nil
}

// Float returns a float (or integer) metadata value as float64.
func (f *File) Float(key string) (float64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	x, ok := v.Float()
	if !ok {
		return 0, f.typeErr(key, v, "a number")
	}
	return x, nil
}

// Bool returns a bool metadata value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.Data.(bool)
	if !ok {
		return false, f.typeErr(key, v, "bool")
	}
	return b, nil
}

// ArrayOf returns the array stored under key, whose elements must be T
// (e.g. string, float32, int32).
func ArrayOf[T any](f *File, key string) ([]T, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.Data.(Array)
	if !ok {
		return nil, f.typeErr(key, v, "array")
	}
	s, ok := a.Data.([]T)
	if !ok {
		var zero T
		return nil, fmt.Errorf("gguf: %s: metadata %q is an array of %s, want %T: %w", f.Name, key, a.Elem, zero, ErrValueType)
	}
	return s, nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, error) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, fmt.Errorf("gguf: %s: tensor %q: %w", f.Name, name, ErrNotFound)
	}
	return &f.Tensors[i], nil
}

// TensorData returns the bytes of t as a view into the file image.
// The view is read-only and valid until Close.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + int(t.Offset)
	return f.data[start : start+int(t.Size) : start+int(t.Size)]
}
