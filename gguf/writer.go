package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// Builder assembles a GGUF file: metadata in order, then tensors, laid out
// as llama.cpp lays them out (each tensor's data aligned, the data section
// padded to the alignment).
type Builder struct {
	Version   uint32
	Alignment int
	KV        []KV
	tensors   []builderTensor
	names     map[string]bool
}

type builderTensor struct {
	info TensorInfo
	data []byte
}

// NewBuilder returns an empty GGUF v3 builder with the default alignment.
func NewBuilder() *Builder {
	return &Builder{Version: 3, Alignment: DefaultAlignment, names: map[string]bool{}}
}

// FromFile returns a builder holding f's metadata and tensors (whose data
// stays a view into f until written).
func FromFile(f *File) *Builder {
	b := NewBuilder()
	b.Version, b.Alignment = f.Version, f.Alignment
	b.KV = append(b.KV, f.KV...)
	for i := range f.Tensors {
		t := f.Tensors[i]
		b.tensors = append(b.tensors, builderTensor{info: t, data: f.TensorData(&t)})
		b.names[t.Name] = true
	}
	return b
}

// Set stores v under key, replacing an existing value in place.
func (b *Builder) Set(key string, v Value) {
	for i := range b.KV {
		if b.KV[i].Key == key {
			b.KV[i].Value = v
			return
		}
	}
	b.KV = append(b.KV, KV{Key: key, Value: v})
}

// SetString, SetUint32, SetFloat32, SetBool and SetArray are Set for the
// common value types.
func (b *Builder) SetString(key, s string)        { b.Set(key, Value{Type: ValueString, Data: s}) }
func (b *Builder) SetUint32(key string, u uint32) { b.Set(key, Value{Type: ValueUint32, Data: u}) }
func (b *Builder) SetFloat32(key string, f float32) {
	b.Set(key, Value{Type: ValueFloat32, Data: f})
}
func (b *Builder) SetBool(key string, v bool)   { b.Set(key, Value{Type: ValueBool, Data: v}) }
func (b *Builder) SetArray(key string, a Array) { b.Set(key, Value{Type: ValueArray, Data: a}) }

// AddTensor appends a tensor. data must hold exactly the tensor's bytes.
func (b *Builder) AddTensor(name string, typ Type, dims []uint64, data []byte) error {
	if b.names[name] {
		return fmt.Errorf("gguf: tensor %q added twice", name)
	}
	if len(dims) == 0 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: rank %d (want 1..%d)", name, len(dims), MaxDims)
	}
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	size, err := typ.RowBytes(int(n))
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if dims[0]%uint64(typ.BlockSize()) != 0 || len(data) != size {
		return fmt.Errorf("gguf: tensor %q: %d bytes for %v of %s, want %d", name, len(data), dims, typ, size)
	}
	b.names[name] = true
	b.tensors = append(b.tensors, builderTensor{info: TensorInfo{Name: name, Dims: dims, Type: typ, Size: int64(size)}, data: data})
	return nil
}

// WriteFile writes the file to path.
func (b *Builder) WriteFile(path string) error {
	fd, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	_, err = b.WriteTo(fd)
	if cerr := fd.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("gguf: %s: %w", path, cerr)
	}
	return err
}

// WriteTo writes the file to w.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	if b.Version != 2 && b.Version != 3 {
		return 0, fmt.Errorf("%w: cannot write version %d", ErrVersion, b.Version)
	}
	if b.Alignment <= 0 || b.Alignment&(b.Alignment-1) != 0 {
		return 0, fmt.Errorf("gguf: alignment %d is not a power of two", b.Alignment)
	}
	e := &encoder{w: bufio.NewWriter(w)}
	e.u32(magic)
	e.u32(b.Version)
	e.u64(uint64(len(b.tensors)))
	e.u64(uint64(len(b.KV)))
	for _, kv := range b.KV {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value.Type, kv.Value.Data, kv.Key)
	}
	var offset uint64
	for _, t := range b.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(offset)
		offset += uint64(alignUp(len(t.data), b.Alignment))
	}
	if len(b.tensors) > 0 {
		e.pad(b.Alignment)
		for _, t := range b.tensors {
			e.write(t.data)
			e.pad(b.Alignment)
		}
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.n, e.err
}

type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (e *encoder) write(p []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(p)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) u8(v uint8)   { e.write([]byte{v}) }
func (e *encoder) u16(v uint16) { e.write(binary.LittleEndian.AppendUint16(nil, v)) }
func (e *encoder) u32(v uint32) { e.write(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *encoder) u64(v uint64) { e.write(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.write([]byte(s))
}

func (e *encoder) pad(align int) {
	if r := int(e.n % int64(align)); r != 0 {
		e.write(make([]byte, align-r))
	}
}

func (e *encoder) fail(key string, t ValueType, data any) {
	if e.err == nil {
		e.err = fmt.Errorf("gguf: metadata %q: %T does not hold a %s", key, data, t)
	}
}

func (e *encoder) value(t ValueType, data any, key string) {
	ok := true
	switch t {
	case ValueUint8:
		var v uint8
		v, ok = data.(uint8)
		e.u8(v)
	case ValueInt8:
		var v int8
		v, ok = data.(int8)
		e.u8(uint8(v))
	case ValueUint16:
		var v uint16
		v, ok = data.(uint16)
		e.u16(v)
	case ValueInt16:
		var v int16
		v, ok = data.(int16)
		e.u16(uint16(v))
	case ValueUint32:
		var v uint32
		v, ok = data.(uint32)
		e.u32(v)
	case ValueInt32:
		var v int32
		v, ok = data.(int32)
		e.u32(uint32(v))
	case ValueFloat32:
		var v float32
		v, ok = data.(float32)
		e.u32(math.Float32bits(v))
	case ValueBool:
		var v bool
		v, ok = data.(bool)
		if v {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case ValueString:
		var v string
		v, ok = data.(string)
		e.str(v)
	case ValueUint64:
		var v uint64
		v, ok = data.(uint64)
		e.u64(v)
	case ValueInt64:
		var v int64
		v, ok = data.(int64)
		e.u64(uint64(v))
	case ValueFloat64:
		var v float64
		v, ok = data.(float64)
		e.u64(math.Float64bits(v))
	case ValueArray:
		var a Array
		a, ok = data.(Array)
		if ok {
			e.array(a, key)
		}
	default:
		ok = false
	}
	if !ok {
		e.fail(key, t, data)
	}
}

func (e *encoder) array(a Array, key string) {
	e.u32(uint32(a.Elem))
	e.u64(uint64(a.Len()))
	switch d := a.Data.(type) {
	case []uint8:
		e.write(d)
	case []int8:
		for _, v := range d {
			e.u8(uint8(v))
		}
	case []uint16:
		for _, v := range d {
			e.u16(v)
		}
	case []int16:
		for _, v := range d {
			e.u16(uint16(v))
		}
	case []uint32:
		for _, v := range d {
			e.u32(v)
		}
	case []int32:
		for _, v := range d {
			e.u32(uint32(v))
		}
	case []float32:
		for _, v := range d {
			e.u32(math.Float32bits(v))
		}
	case []bool:
		for _, v := range d {
			e.value(ValueBool, v, key)
		}
	case []string:
		for _, v := range d {
			e.str(v)
		}
	case []uint64:
		for _, v := range d {
			e.u64(v)
		}
	case []int64:
		for _, v := range d {
			e.u64(uint64(v))
		}
	case []float64:
		for _, v := range d {
			e.u64(math.Float64bits(v))
		}
	case []Array:
		for _, v := range d {
			e.array(v, key)
		}
	default:
		e.fail(key, ValueArray, a.Data)
	}
	if want := elemOf(a.Data); e.err == nil && want != a.Elem {
		e.err = fmt.Errorf("gguf: metadata %q: array of %s holds %T", key, a.Elem, a.Data)
	}
}

// elemOf returns the element type a typed slice stands for.
func elemOf(data any) ValueType {
	switch data.(type) {
	case []uint8:
		return ValueUint8
	case []int8:
		return ValueInt8
	case []uint16:
		return ValueUint16
	case []int16:
		return ValueInt16
	case []uint32:
		return ValueUint32
	case []int32:
		return ValueInt32
	case []float32:
		return ValueFloat32
	case []bool:
		return ValueBool
	case []string:
		return ValueString
	case []uint64:
		return ValueUint64
	case []int64:
		return ValueInt64
	case []float64:
		return ValueFloat64
	case []Array:
		return ValueArray
	}
	return ValueType(math.MaxUint32)
}
