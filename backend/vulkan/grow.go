package vulkan

import (
	"fmt"

	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// Grow makes room for cells cells in place (runner.Grower), keeping
// what the cache holds: each layer's keys and values move to larger
// buffers by a copy on the device, cell i staying row i, so the pages a
// runner.Batcher's sequences hold (and its prefix index) stay valid and
// nothing is evaluated again. The bound graphs and samplers are dropped,
// since their sets name the old buffers and their attention page tables
// are sized by the cells; each binds again when it next runs, as after
// Forget.
//
// Run and RunSample wait for their submit, so when Grow is called (it is
// no more safe for concurrent use than they are) no work of the
// executor's is in flight. Layers grow one at a time, so at most one
// layer's keys and values exist twice at once. A size the device cannot
// hold (a layer, or the page tables of a graph bound now, past its
// storage range) is refused before anything changes. A failed allocation or
// copy leaves the executor at its old size with every cell intact; the
// layers grown before it keep their larger buffers, which a later Grow
// reuses.
func (e *Executor) Grow(cells int) error {
	if cells <= e.cells {
		return nil
	}
	if err := e.fits(cells); err != nil {
		return fmt.Errorf("vulkan: growing the KV cache from %d to %d cells: %w", e.cells, cells, err)
	}
	e.unbindAll()
	row := uint64(ops.KVRowBytes(e.cache.Type, e.cache.Width))
	for l := range e.keys {
		if err := e.growLayer(l, uint64(e.cells)*row, uint64(cells)*row); err != nil {
			return fmt.Errorf("vulkan: growing layer %d of the KV cache from %d to %d cells: %w", l, e.cells, cells, err)
		}
	}
	e.cells = cells
	return nil
}

// fits returns an error unless a cache of cells fits the device's
// storage range: a layer, and every graph bound now planned again over
// that many cells (the attention's page tables grow with them), as
// binding it after the growth will.
func (e *Executor) fits(cells int) error {
	if _, err := e.layerBytes(cells); err != nil {
		return err
	}
	old := e.cells
	e.cells = cells
	defer func() { e.cells = old }()
	for g := range e.bound {
		p, err := e.plan(g)
		if err != nil {
			return fmt.Errorf("a graph of %d tokens: %w", g.Batch.Tokens, err)
		}
		for i, n := range p.need {
			if err := e.scratchFits(n); err != nil {
				return fmt.Errorf("a graph of %d tokens: scratch slot %d: %w", g.Batch.Tokens, i, err)
			}
		}
	}
	return nil
}

// growLayer moves layer l's keys and values, of which the first used
// bytes hold cells, to buffers of size bytes, in one submit. A side
// already that large (from a Grow that failed at a later layer) stays.
func (e *Executor) growLayer(l int, used, size uint64) error {
	sides := [2][]*vk.Buffer{e.keys, e.values}
	var grown [2]*vk.Buffer
	drop := func() { // frees the buffers made here
		for i, b := range grown {
			if b != sides[i][l] {
				b.Close()
			}
		}
	}
	for i, side := range sides {
		if side[l].Size() >= size {
			grown[i] = side[l]
			continue
		}
		b, err := e.k.Dev.NewBuffer(size, vk.DeviceLocal)
		if err != nil {
			drop()
			return err
		}
		grown[i] = b
	}
	if err := e.step.Begin(); err != nil {
		drop()
		return err
	}
	// The last step's cache writes, made visible to the copies.
	e.step.Barrier()
	for i, side := range sides {
		if grown[i] != side[l] && used > 0 {
			e.step.Copy(vk.Range{Buf: side[l], Size: used}, vk.Range{Buf: grown[i]})
		}
	}
	if err := e.submit(); err != nil {
		drop()
		return err
	}
	for i, side := range sides {
		if grown[i] != side[l] {
			side[l].Close()
			side[l] = grown[i]
		}
	}
	return nil
}
