package ipc

import (
	"encoding/binary"
	"fmt"
)

// MaxDepth bounds how deeply msgpack containers (maps and arrays, empty or
// not) may nest in a frame, the top-level map counting as the first. The
// protocol needs 6 (a status reply); decoders recurse, so hostile nesting
// is refused before decoding.
const MaxDepth = 16

// scan walks one msgpack value iteratively and checks that it is well
// formed, fills p exactly, nests at most MaxDepth deep, has only string
// map keys, and that no length header claims more than the bytes left.
func scan(p []byte) error {
	off := 0
	need := func(n uint64) error {
		if n > uint64(len(p)-off) {
			return fmt.Errorf("%w: a length of %d runs past the frame end", ErrMalformed, n)
		}
		return nil
	}
	u := func(size int) (uint64, error) {
		if err := need(uint64(size)); err != nil {
			return 0, err
		}
		var v uint64
		switch size {
		case 1:
			v = uint64(p[off])
		case 2:
			v = uint64(binary.BigEndian.Uint16(p[off:]))
		case 4:
			v = uint64(binary.BigEndian.Uint32(p[off:]))
		}
		off += size
		return v, nil
	}
	// pending[i] is how many values the i-th open container still holds;
	// pending[0] is the frame, which holds one value and is not a
	// container. isMap[i] says whether the i-th is a map, whose values at
	// even counts left are keys.
	pending := []uint64{1}
	isMap := []bool{false}
	for len(pending) > 0 {
		top := len(pending) - 1
		if pending[top] == 0 {
			pending, isMap = pending[:top], isMap[:top]
			continue
		}
		key := isMap[top] && pending[top]%2 == 0
		pending[top]--
		if off >= len(p) {
			return fmt.Errorf("%w: frame ends inside a value", ErrMalformed)
		}
		c := p[off]
		off++
		if key && c&0xe0 != 0xa0 && c != 0xd9 && c != 0xda && c != 0xdb {
			return fmt.Errorf("%w: a map key of type %#02x is not a string", ErrMalformed, c)
		}
		var skip, children uint64
		var container, mapped bool
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c&0xf0 == 0x80:
			children, container, mapped = 2*uint64(c&0x0f), true, true
		case c&0xf0 == 0x90:
			children, container = uint64(c&0x0f), true
		case c&0xe0 == 0xa0:
			skip = uint64(c & 0x1f)
		case c == 0xc4 || c == 0xd9:
			skip, err = u(1)
		case c == 0xc5 || c == 0xda:
			skip, err = u(2)
		case c == 0xc6 || c == 0xdb:
			skip, err = u(4)
		case c == 0xc7:
			skip, err = u(1)
			skip++
		case c == 0xc8:
			skip, err = u(2)
			skip++
		case c == 0xc9:
			skip, err = u(4)
			skip++
		case c == 0xca || c == 0xce || c == 0xd2:
			skip = 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			skip = 8
		case c == 0xcc || c == 0xd0:
			skip = 1
		case c == 0xcd || c == 0xd1:
			skip = 2
		case c >= 0xd4 && c <= 0xd8:
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc:
			children, err = u(2)
			container = true
		case c == 0xdd:
			children, err = u(4)
			container = true
		case c == 0xde:
			children, err = u(2)
			children *= 2
			container, mapped = true, true
		case c == 0xdf:
			children, err = u(4)
			children *= 2
			container, mapped = true, true
		default:
			return fmt.Errorf("%w: invalid msgpack byte %#02x", ErrMalformed, c)
		}
		if err != nil {
			return err
		}
		if err := need(skip); err != nil {
			return err
		}
		off += int(skip)
		if container && len(pending) > MaxDepth { // this one would be the (MaxDepth+1)th
			return fmt.Errorf("%w: containers nested deeper than %d", ErrMalformed, MaxDepth)
		}
		if children > 0 {
			if err := need(children); err != nil { // every element takes a byte
				return err
			}
			pending, isMap = append(pending, children), append(isMap, mapped)
		}
	}
	if off != len(p) {
		return fmt.Errorf("%w: %d bytes after the map", ErrMalformed, len(p)-off)
	}
	return nil
}
