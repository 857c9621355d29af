package cpu

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/kernels"
)

// packs holds a model's matrices repacked for the GEMM kernels
// (kernels.Repack), shared by its executors. A matrix is packed the first
// time a plan multiplies by it; its GGUF bytes are then released from
// memory (gguf.File.Release), so the model is held once, in the packed
// layout, which serves one token and a prompt alike.
type packs struct {
	f       *gguf.File
	mu      sync.Mutex
	packed  map[packKey]*kernels.Packed
	regions [][]byte // the packed data, mapped outside the Go heap
}

// packKey names a matrix by its GGUF data and shape: a graph may multiply
// by a slice of a tensor's rows (compute.Builder's row ranges), which
// starts where the whole tensor does.
type packKey struct {
	data       *byte
	rows, cols int
	typ        gguf.Type
}

func newPacks(f *gguf.File) *packs {
	return &packs{f: f, packed: map[packKey]*kernels.Packed{}}
}

// get returns matrix w packed, packing it on first use, or nil when its
// type or shape has no packed layout (it then runs on kernels.MatVec).
func (p *packs) get(w *compute.Node) (*kernels.Packed, error) {
	size, err := kernels.PackedSize(w.Type, w.Shape.Rows, w.Shape.Cols)
	if errors.Is(err, kernels.ErrNotPackable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := packKey{&w.Weight[0], w.Shape.Rows, w.Shape.Cols, w.Type}
	if pk, ok := p.packed[key]; ok {
		return pk, nil
	}
	region, dst, err := kernels.MapPacked(size)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: mapping %d bytes to pack it: %w", w.Name, size, err)
	}
	pk, err := kernels.Repack(w.Type, w.Weight, w.Shape.Rows, w.Shape.Cols, dst)
	if err != nil {
		_ = syscall.Munmap(region)
		return nil, fmt.Errorf("tensor %q: %w", w.Name, err)
	}
	if p.f != nil {
		if err := p.f.Release(w.Weight); err != nil {
			_ = syscall.Munmap(region)
			return nil, fmt.Errorf("tensor %q: %w", w.Name, err)
		}
	}
	p.regions = append(p.regions, region)
	p.packed[key] = pk
	return pk, nil
}

// close unmaps the packed data; no executor may run afterwards.
func (p *packs) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.regions {
		_ = syscall.Munmap(r)
	}
	p.regions, p.packed = nil, map[packKey]*kernels.Packed{}
}
