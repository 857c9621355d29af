package vk

import (
	"fmt"
	"sync"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"
)

// Kind says where a buffer lives.
type Kind int

const (
	// DeviceLocal buffers hold weights, the KV cache and activations. They
	// are mapped directly when the device memory is host-visible (CPU and
	// most integrated devices); otherwise Write and Read go through a
	// staging buffer.
	DeviceLocal Kind = iota
	// HostVisible buffers are mapped, coherent memory: readback targets.
	HostVisible
)

// Buffer is a storage buffer with its own memory allocation.
type Buffer struct {
	d      *Device
	buf    vulkan.Buffer
	mem    vulkan.DeviceMemory
	size   uint64
	mapped unsafe.Pointer // nil when the memory is not host-visible
}

// Size returns the buffer's size in bytes.
func (b *Buffer) Size() uint64 { return b.size }

func (d *Device) memoryType(bits uint32, want, prefer vulkan.MemoryPropertyFlags) (uint32, bool) {
	found, ok := uint32(0), false
	for i := uint32(0); i < d.mem.MemoryTypeCount; i++ {
		f := d.mem.MemoryTypes[i].PropertyFlags
		if bits&(1<<i) == 0 || f&want != want {
			continue
		}
		if f&prefer == prefer {
			return i, true
		}
		if !ok {
			found, ok = i, true
		}
	}
	return found, ok
}

// NewBuffer allocates size bytes (rounded up to 16) of kind.
func (d *Device) NewBuffer(size uint64, kind Kind) (*Buffer, error) {
	if size == 0 {
		size = 16
	}
	size = (size + 15) &^ 15
	var buf vulkan.Buffer
	if err := check(vulkan.CreateBuffer(d.dev, &vulkan.BufferCreateInfo{
		SType:       vulkan.StructureTypeBufferCreateInfo,
		Size:        vulkan.DeviceSize(size),
		Usage:       vulkan.BufferUsageFlags(vulkan.BufferUsageStorageBufferBit | vulkan.BufferUsageTransferSrcBit | vulkan.BufferUsageTransferDstBit),
		SharingMode: vulkan.SharingModeExclusive,
	}, nil, &buf), "vkCreateBuffer"); err != nil {
		return nil, err
	}
	var req vulkan.MemoryRequirements
	vulkan.GetBufferMemoryRequirements(d.dev, buf, &req)
	req.Deref()

	hostBits := vulkan.MemoryPropertyFlags(vulkan.MemoryPropertyHostVisibleBit | vulkan.MemoryPropertyHostCoherentBit)
	local := vulkan.MemoryPropertyFlags(vulkan.MemoryPropertyDeviceLocalBit)
	var typ uint32
	var ok, mapped bool
	switch {
	case kind == HostVisible:
		typ, ok = d.memoryType(req.MemoryTypeBits, hostBits, hostBits|vulkan.MemoryPropertyFlags(vulkan.MemoryPropertyHostCachedBit))
		mapped = true
	case !d.opts.Staging:
		if typ, ok = d.memoryType(req.MemoryTypeBits, local|hostBits, local|hostBits); ok {
			mapped = true
			break
		}
		fallthrough
	default:
		typ, ok = d.memoryType(req.MemoryTypeBits, local, local)
		if !ok {
			typ, ok = d.memoryType(req.MemoryTypeBits, 0, 0)
		}
	}
	if !ok {
		vulkan.DestroyBuffer(d.dev, buf, nil)
		return nil, fmt.Errorf("vk: no memory type for a %d-byte buffer", size)
	}
	var mem vulkan.DeviceMemory
	if err := check(vulkan.AllocateMemory(d.dev, &vulkan.MemoryAllocateInfo{
		SType:           vulkan.StructureTypeMemoryAllocateInfo,
		AllocationSize:  req.Size,
		MemoryTypeIndex: typ,
	}, nil, &mem), fmt.Sprintf("vkAllocateMemory(%d bytes)", req.Size)); err != nil {
		vulkan.DestroyBuffer(d.dev, buf, nil)
		return nil, err
	}
	b := &Buffer{d: d, buf: buf, mem: mem, size: size}
	if err := check(vulkan.BindBufferMemory(d.dev, buf, mem, 0), "vkBindBufferMemory"); err != nil {
		b.Close()
		return nil, err
	}
	if mapped {
		var p unsafe.Pointer
		if err := check(vulkan.MapMemory(d.dev, mem, 0, vulkan.DeviceSize(size), 0, &p), "vkMapMemory"); err != nil {
			b.Close()
			return nil, err
		}
		b.mapped = p
	}
	return b, nil
}

// Close frees the buffer and its memory.
func (b *Buffer) Close() {
	if b == nil || b.buf == nil {
		return
	}
	if b.mapped != nil {
		vulkan.UnmapMemory(b.d.dev, b.mem)
		b.mapped = nil
	}
	vulkan.DestroyBuffer(b.d.dev, b.buf, nil)
	vulkan.FreeMemory(b.d.dev, b.mem, nil)
	b.buf = nil
}

func (b *Buffer) span(off uint64, n int) error {
	if off > b.size || uint64(n) > b.size-off {
		return fmt.Errorf("vk: %d bytes at offset %d overrun a %d-byte buffer", n, off, b.size)
	}
	return nil
}

// Write copies data into the buffer at off. It must not race with a
// submitted Step that uses the buffer.
func (b *Buffer) Write(off uint64, data []byte) error {
	if err := b.span(off, len(data)); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	if b.mapped != nil {
		copy(unsafe.Slice((*byte)(unsafe.Add(b.mapped, off)), len(data)), data)
		return nil
	}
	return b.d.staged(b, off, data, nil)
}

// Read copies len(dst) bytes at off out of the buffer.
func (b *Buffer) Read(off uint64, dst []byte) error {
	if err := b.span(off, len(dst)); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if b.mapped != nil {
		copy(dst, unsafe.Slice((*byte)(unsafe.Add(b.mapped, off)), len(dst)))
		return nil
	}
	return b.d.staged(b, off, nil, dst)
}

// Bytes returns the mapped memory, or nil when the buffer is not mapped.
// Readback buffers are always mapped.
func (b *Buffer) Bytes() []byte {
	if b.mapped == nil {
		return nil
	}
	return unsafe.Slice((*byte)(b.mapped), b.size)
}

// stagingChunk bounds the host memory a staged copy holds at once.
const stagingChunk = 16 << 20

var stagingMu sync.Mutex

// staged moves data to (or dst from) an unmapped buffer through a
// host-visible staging buffer and a one-off transfer.
func (d *Device) staged(b *Buffer, off uint64, data, dst []byte) error {
	stagingMu.Lock()
	defer stagingMu.Unlock()
	n := max(len(data), len(dst))
	tmp, err := d.NewBuffer(uint64(min(n, stagingChunk)), HostVisible)
	if err != nil {
		return err
	}
	defer tmp.Close()
	s, err := d.NewStep()
	if err != nil {
		return err
	}
	defer s.Close()
	for done := 0; done < n; done += stagingChunk {
		part := min(n-done, stagingChunk)
		if err := s.Begin(); err != nil {
			return err
		}
		if data != nil {
			copy(tmp.Bytes(), data[done:done+part])
			s.Copy(Range{tmp, 0, uint64(part)}, Range{b, off + uint64(done), uint64(part)})
		} else {
			s.Copy(Range{b, off + uint64(done), uint64(part)}, Range{tmp, 0, uint64(part)})
		}
		if err := s.Submit(); err != nil {
			return err
		}
		if dst != nil {
			copy(dst[done:done+part], tmp.Bytes())
		}
	}
	return nil
}

// Range is a byte range of a buffer; Size 0 means to the end.
type Range struct {
	Buf       *Buffer
	Off, Size uint64
}

// All is the whole buffer as a Range.
func (b *Buffer) All() Range { return Range{Buf: b} }

func (r Range) size() uint64 {
	if r.Size == 0 {
		return r.Buf.size - r.Off
	}
	return r.Size
}
