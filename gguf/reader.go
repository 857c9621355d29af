package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

const (
	magic = 0x46554747 // "GGUF" read as a little-endian uint32

	// DefaultAlignment is the data alignment when general.alignment is absent.
	DefaultAlignment = 32

	// MaxDims is the largest tensor rank ggml supports.
	MaxDims = 4

	// maxArrayDepth bounds nested metadata arrays so hostile input cannot
	// exhaust the stack.
	maxArrayDepth = 8
)

// decoder reads little-endian GGUF primitives from a byte slice, never past
// its end. The first error sticks; later reads return zero values.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrFormat, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.fail("%s: need %d bytes, %d left (truncated file?)", what, n, d.remaining())
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) u8(what string) uint8 {
	if b := d.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if b := d.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if b := d.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if b := d.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// count reads a uint64 element count and checks that count elements of at
// least minSize bytes each could still fit in the file.
func (d *decoder) count(what string, minSize int) int {
	n := d.u64(what)
	if d.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail("%s: count %d cannot fit in the %d bytes left", what, n, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) str(what string) string {
	n := d.count(what+" length", 1)
	return string(d.take(n, what))
}

func (d *decoder) value(t ValueType, what string, depth int) any {
	switch t {
	case ValueUint8:
		return d.u8(what)
	case ValueInt8:
		return int8(d.u8(what))
	case ValueUint16:
		return d.u16(what)
	case ValueInt16:
		return int16(d.u16(what))
	case ValueUint32:
		return d.u32(what)
	case ValueInt32:
		return int32(d.u32(what))
	case ValueFloat32:
		return math.Float32frombits(d.u32(what))
	case ValueBool:
		b := d.u8(what)
		if b > 1 {
			d.fail("%s: bool byte %d is neither 0 nor 1", what, b)
		}
		return b == 1
	case ValueString:
		return d.str(what)
	case ValueArray:
		return d.array(what, depth+1)
	case ValueUint64:
		return d.u64(what)
	case ValueInt64:
		return int64(d.u64(what))
	case ValueFloat64:
		return math.Float64frombits(d.u64(what))
	}
	d.fail("%s: unknown value type %d", what, uint32(t))
	return nil
}

func (d *decoder) array(what string, depth int) Array {
	if depth > maxArrayDepth {
		d.fail("%s: arrays nested deeper than %d", what, maxArrayDepth)
		return Array{}
	}
	elem := ValueType(d.u32(what + " element type"))
	size := elem.scalarSize()
	if d.err == nil && size < 0 {
		d.fail("%s: unknown array element type %d", what, uint32(elem))
		return Array{}
	}
	minSize := size
	switch elem {
	case ValueString:
		minSize = 8
	case ValueArray:
		minSize = 12
	}
	n := d.count(what+" element count", minSize)
	if d.err != nil {
		return Array{}
	}
	a := Array{Elem: elem}
	switch elem {
	case ValueUint8:
		a.Data = readScalars(d, n, what, func(b []byte) uint8 { return b[0] })
	case ValueInt8:
		a.Data = readScalars(d, n, what, func(b []byte) int8 { return int8(b[0]) })
	case ValueUint16:
		a.Data = readScalars(d, n, what, binary.LittleEndian.Uint16)
	case ValueInt16:
		a.Data = readScalars(d, n, what, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
	case ValueUint32:
		a.Data = readScalars(d, n, what, binary.LittleEndian.Uint32)
	case ValueInt32:
		a.Data = readScalars(d, n, what, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case ValueFloat32:
		a.Data = readScalars(d, n, what, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	case ValueUint64:
		a.Data = readScalars(d, n, what, binary.LittleEndian.Uint64)
	case ValueInt64:
		a.Data = readScalars(d, n, what, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case ValueFloat64:
		a.Data = readScalars(d, n, what, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	case ValueBool:
		bs := readScalars(d, n, what, func(b []byte) uint8 { return b[0] })
		out := make([]bool, len(bs))
		for i, b := range bs {
			if b > 1 {
				d.fail("%s[%d]: bool byte %d is neither 0 nor 1", what, i, b)
			}
			out[i] = b == 1
		}
		a.Data = out
	case ValueString:
		out := make([]string, n)
		for i := range out {
			out[i] = d.str(what)
			if d.err != nil {
				return Array{}
			}
		}
		a.Data = out
	case ValueArray:
		out := make([]Array, n)
		for i := range out {
			out[i] = d.array(what, depth+1)
			if d.err != nil {
				return Array{}
			}
		}
		a.Data = out
	}
	return a
}

func readScalars[T any](d *decoder, n int, what string, conv func([]byte) T) []T {
	var zero T
	size := binary.Size(zero)
	if size <= 0 {
		size = 1
	}
	b := d.take(n*size, what)
	if b == nil {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = conv(b[i*size:])
	}
	return out
}

// Parse decodes a GGUF image held in data. name is used in errors. The
// returned File keeps data and hands out tensor views into it.
func Parse(name string, data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", name, err)
	}
	f.Name = name
	return f, nil
}

func parse(data []byte) (*File, error) {
	d := &decoder{buf: data}
	if m := d.u32("magic"); d.err != nil || m != magic {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: bad magic %#08x (not a GGUF file)", ErrFormat, m)
	}
	f := &File{Version: d.u32("version"), data: data, Alignment: DefaultAlignment}
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case bits.ReverseBytes32(f.Version) == 2 || bits.ReverseBytes32(f.Version) == 3:
		return nil, fmt.Errorf("%w: big-endian GGUF is not supported", ErrVersion)
	default:
		return nil, fmt.Errorf("%w: version %d (want 2 or 3)", ErrVersion, f.Version)
	}
	nTensors := d.count("tensor count", 24)
	nKV := d.count("metadata count", 13)
	if d.err != nil {
		return nil, d.err
	}

	f.KV = make([]KV, 0, nKV)
	f.index = make(map[string]int, nKV)
	for i := 0; i < nKV; i++ {
		key := d.str(fmt.Sprintf("metadata key %d", i))
		t := ValueType(d.u32(fmt.Sprintf("metadata %q type", key)))
		v := d.value(t, fmt.Sprintf("metadata %q", key), 0)
		if d.err != nil {
			return nil, d.err
		}
		if _, dup := f.index[key]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		f.index[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: Value{Type: t, Data: v}})
	}
	if v, ok := f.Lookup("general.alignment"); ok {
		a, isU32 := v.Data.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment %v must be a power-of-two uint32", ErrFormat, v.Data)
		}
		f.Alignment = int(a)
	}

	f.Tensors = make([]TensorInfo, nTensors)
	f.tensorIndex = make(map[string]int, nTensors)
	for i := range f.Tensors {
		t, err := readTensorInfo(d, i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor name %q", ErrFormat, t.Name)
		}
		f.tensorIndex[t.Name] = i
		f.Tensors[i] = t
	}
	f.headerSize = d.off
	f.DataOffset = alignUp(d.off, f.Alignment)
	for _, t := range f.Tensors {
		if t.Offset%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("%w: tensor %q: offset %d is not aligned to %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		end := uint64(f.DataOffset) + t.Offset + uint64(t.Size)
		if end < t.Offset || end > uint64(len(data)) {
			return nil, fmt.Errorf("%w: tensor %q: data [%d, %d) runs past the end of the file (%d bytes)", ErrFormat, t.Name, uint64(f.DataOffset)+t.Offset, end, len(data))
		}
	}
	return f, nil
}

func readTensorInfo(d *decoder, i int) (TensorInfo, error) {
	var t TensorInfo
	t.Name = d.str(fmt.Sprintf("tensor %d name", i))
	nDims := d.u32(fmt.Sprintf("tensor %q rank", t.Name))
	if d.err != nil {
		return t, d.err
	}
	if nDims == 0 || nDims > MaxDims {
		return t, fmt.Errorf("%w: tensor %q: rank %d (want 1..%d)", ErrFormat, t.Name, nDims, MaxDims)
	}
	t.Dims = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Dims {
		t.Dims[j] = d.u64(fmt.Sprintf("tensor %q dim %d", t.Name, j))
		hi, lo := bits.Mul64(elems, t.Dims[j])
		if hi != 0 || lo > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %q: element count overflows", ErrFormat, t.Name)
		}
		elems = lo
	}
	t.Type = Type(d.u32(fmt.Sprintf("tensor %q type", t.Name)))
	t.Offset = d.u64(fmt.Sprintf("tensor %q offset", t.Name))
	if d.err != nil {
		return t, d.err
	}
	if !t.Type.Known() {
		return t, fmt.Errorf("%w: tensor %q has type %d", ErrUnknownType, t.Name, uint32(t.Type))
	}
	bs := uint64(t.Type.BlockSize())
	if t.Dims[0]%bs != 0 {
		return t, fmt.Errorf("%w: tensor %q: row of %d elements is not a whole number of %s blocks of %d", ErrFormat, t.Name, t.Dims[0], t.Type, bs)
	}
	hi, size := bits.Mul64(elems/bs, uint64(t.Type.TypeSize()))
	if hi != 0 || size > math.MaxInt64 {
		return t, fmt.Errorf("%w: tensor %q: byte size overflows", ErrFormat, t.Name)
	}
	t.Size = int64(size)
	return t, nil
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }
