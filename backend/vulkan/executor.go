package vulkan

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// maxBound is how many bound graphs an executor keeps. A session runs a
// graph per batch shape: decode's one token, and prompt chunks of every
// length. Binding is cheap next to a step (descriptor sets over buffers
// that already exist), so the least recently run graph beyond these is
// dropped and bound again if it returns, and the sets an executor holds
// stay bounded however many prompt lengths it sees.
const maxBound = 4

// Executor runs graphs on the device: compute.Executor and
// compute.SamplingExecutor. It owns the KV cache (per layer, keys and
// values of cells rows, each kept as the cache's type: ops.KVRowBytes),
// which grows in place (Grow), and the scratch buffers its graphs share.
// It is not safe for concurrent use.
type Executor struct {
	w     *Weights
	k     *ops.Kernels
	cache compute.CacheShape
	cells int

	keys, values []*vk.Buffer
	// slots are the scratch buffers of bound graphs: a graph's plan
	// numbers its buffers and every graph uses the same numbers, so the
	// scratch memory is the largest graph's, not the sum. Slot 0 holds
	// every graph's result.
	slots    []*vk.Buffer
	readback *vk.Buffer // host-visible copy of the result on devices that do not map slot 0
	step     *vk.Step

	bound map[*compute.Graph]*bound
	lru   []*compute.Graph // least recently run first

	samplers     []*ops.Sampler // sampler i bound to row i of sampleRows
	samplerSets  []*vk.Sets
	sampleRows   *vk.Buffer
	samplerVocab int
	onHost       []bool // per row of a RunSample: drawn on the host, not by its sampler

	update []byte
	out    []float32

	// GPU time per op since TakeProfile, when the device profiles. The
	// lock is there because requests take the profile while the step loop
	// adds to it.
	profileMu sync.Mutex
	profile   map[string]*vk.OpTime
}

// NewExecutor returns an executor on w's device whose KV cache has shape
// c and cells cells; its signature is runner.NewExecutor's.
func (w *Weights) NewExecutor(c compute.CacheShape, cells int) (compute.Executor, error) {
	return New(w, c, cells)
}

// New returns an executor running graphs over the weights w, with a KV
// cache of shape c and cells cells.
func New(w *Weights, c compute.CacheShape, cells int) (_ *Executor, err error) {
	if cells <= 0 {
		return nil, fmt.Errorf("vulkan: a cache of %d cells", cells)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	rowBytes := ops.KVRowBytes(c.Type, c.Width)
	if rowBytes == 0 && c.Width > 0 {
		return nil, fmt.Errorf("vulkan: %w: a %s cache of rows of %d values", compute.ErrKVType, c.Type, c.Width)
	}
	e := &Executor{w: w, k: w.K, cache: c, cells: cells, bound: map[*compute.Graph]*bound{}}
	defer func() {
		if err != nil {
			e.Close()
			err = fmt.Errorf("vulkan: %w", err)
		}
	}()
	layer, err := e.layerBytes(cells)
	if err != nil {
		return nil, err
	}
	for range c.Layers {
		for _, dst := range []*[]*vk.Buffer{&e.keys, &e.values} {
			b, err := e.k.Dev.NewBuffer(layer, vk.DeviceLocal)
			if err != nil {
				return nil, err
			}
			*dst = append(*dst, b)
		}
	}
	if e.step, err = e.k.Dev.NewStep(); err != nil {
		return nil, err
	}
	return e, nil
}

// Close implements compute.Executor. The weights stay: they are the
// model's.
func (e *Executor) Close() error {
	e.unbindAll()
	if e.step != nil {
		e.step.Close()
		e.step = nil
	}
	for _, b := range slices.Concat(e.keys, e.values, e.slots, []*vk.Buffer{e.readback}) {
		b.Close()
	}
	e.keys, e.values, e.slots, e.readback = nil, nil, nil, nil
	return nil
}

// unbindAll drops every bound graph and the sampler: their sets name
// buffers about to be replaced.
func (e *Executor) unbindAll() {
	for _, b := range e.bound {
		b.sets.Close()
	}
	clear(e.bound)
	e.lru = e.lru[:0]
	e.closeSamplers()
}

// graph returns g bound, binding it (and dropping the least recently run
// graph beyond maxBound) when it is new.
func (e *Executor) graph(g *compute.Graph) (*bound, error) {
	if b := e.bound[g]; b != nil {
		i := slices.Index(e.lru, g)
		e.lru = append(slices.Delete(e.lru, i, i+1), g)
		return b, nil
	}
	if g.Cache.Layers > 0 && (g.Cache.Width != e.cache.Width || g.Cache.Layers > e.cache.Layers) {
		return nil, fmt.Errorf("vulkan: the graph's cache %+v, the executor's %+v", g.Cache, e.cache)
	}
	b, err := e.bind(g)
	if err != nil {
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	if len(e.lru) == maxBound {
		old := e.lru[0]
		e.bound[old].sets.Close()
		delete(e.bound, old)
		e.lru = e.lru[1:]
	}
	e.bound[g] = b
	e.lru = append(e.lru, g)
	return b, nil
}

// layerBytes returns the bytes of one cache layer (keys or values) of
// cells cells, or an error if the device's storage range cannot hold it.
func (e *Executor) layerBytes(cells int) (uint64, error) {
	layer := uint64(cells) * uint64(ops.KVRowBytes(e.cache.Type, e.cache.Width))
	if limit := e.k.Dev.Info.MaxStorageBufferRange; layer > limit {
		return 0, fmt.Errorf("a cache layer of %d bytes exceeds the device's storage range of %d", layer, limit)
	}
	return layer, nil
}

// scratchFits returns an error if the device's storage range cannot hold
// a scratch buffer of n bytes.
func (e *Executor) scratchFits(n uint64) error {
	if limit := e.k.Dev.Info.MaxStorageBufferRange; n > limit {
		return fmt.Errorf("a scratch buffer of %d bytes exceeds the device's storage range of %d", n, limit)
	}
	return nil
}

// arena makes slot i at least need[i] bytes. Replacing a buffer unbinds
// every graph; a slot grows to a power of two (within the device's
// storage range), so a run of growing prompts replaces it a few times.
func (e *Executor) arena(need []uint64) error {
	limit := e.k.Dev.Info.MaxStorageBufferRange
	for i, n := range need {
		if i == len(e.slots) {
			e.slots = append(e.slots, nil)
		}
		if old := e.slots[i]; old != nil && old.Size() >= n {
			continue
		}
		if err := e.scratchFits(n); err != nil {
			return err
		}
		size := uint64(1)
		for size < n {
			size *= 2
		}
		if size > limit {
			size = n
		}
		if e.slots[i] != nil {
			e.unbindAll()
			e.slots[i].Close()
			e.slots[i] = nil
		}
		b, err := e.k.Dev.NewBuffer(size, vk.DeviceLocal)
		if err != nil {
			return err
		}
		e.slots[i] = b
	}
	return nil
}

// check returns an error for a batch g cannot run on this cache: another
// shape, an id outside an embedding table, a cell outside the cache.
func (e *Executor) check(b *bound, batch *compute.Batch) error {
	if batch.Shape() != b.g.Batch {
		return fmt.Errorf("%w: shape %+v for a graph of %+v", compute.ErrBatch, batch.Shape(), b.g.Batch)
	}
	if err := batch.CheckCells(e.cells); err != nil {
		return err
	}
	for i, t := range batch.Tokens {
		if t < 0 || int(t) >= b.tokenRows {
			return fmt.Errorf("%w: token %d outside a table of %d rows", compute.ErrBatch, t, b.tokenRows)
		}
		if p := batch.Pos[i]; int(p) >= b.posRows {
			return fmt.Errorf("%w: position %d outside a table of %d rows", compute.ErrBatch, p, b.posRows)
		}
		// A position past the cache's cells (only pages repeated in a
		// table allow one) would overflow the page tables, sized by the
		// cells.
		if p := batch.Pos[i]; int(p) >= e.cells {
			return fmt.Errorf("%w: position %d of token %d past a cache of %d cells", compute.ErrBatch, p, i, e.cells)
		}
	}
	return nil
}

// record binds g if need be, checks the batch and records the step: the
// inputs' updates, then the ops.
func (e *Executor) record(g *compute.Graph, batch *compute.Batch) (*bound, error) {
	b, err := e.graph(g)
	if err != nil {
		return nil, err
	}
	if err := e.check(b, batch); err != nil {
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	st := e.step
	if err := st.Begin(); err != nil {
		return nil, err
	}
	// The batch goes in with the step: a staged write would cost a submit
	// of its own. Updates are checked against their buffers at bind time.
	for _, in := range b.inputs {
		e.update = in.fill(batch, e.update[:0])
		if err := st.Update(in.buf, 0, e.update); err != nil {
			st.Discard()
			return nil, err
		}
	}
	st.Barrier()
	for _, c := range b.cmds {
		if c.barrier {
			st.Barrier()
		}
		c.record(st, batch)
	}
	return b, nil
}

// Run implements compute.Executor: one submit, the result copied to a
// host-visible buffer inside it when slot 0 is not mapped.
func (e *Executor) Run(g *compute.Graph, batch *compute.Batch) ([]float32, error) {
	b, err := e.graph(g)
	if err != nil {
		return nil, err
	}
	n := b.outBytes
	mapped := e.slots[0].Bytes() != nil
	if !mapped {
		if err := e.ensureReadback(n); err != nil {
			return nil, err
		}
	}
	if _, err := e.record(g, batch); err != nil {
		return nil, err
	}
	raw := e.slots[0].Bytes()
	if !mapped && n > 0 {
		e.step.Barrier()
		e.step.Copy(vk.Range{Buf: e.slots[0], Size: n}, vk.Range{Buf: e.readback, Size: n})
		raw = e.readback.Bytes()
	}
	if err := e.submit(); err != nil {
		return nil, err
	}
	return e.floats(raw[:n]), nil
}

func (e *Executor) ensureReadback(n uint64) error {
	if e.readback != nil && e.readback.Size() >= n {
		return nil
	}
	e.readback.Close()
	var err error
	e.readback, err = e.k.Dev.NewBuffer(n, vk.HostVisible)
	return err
}

// floats converts raw to the executor's result slice, valid until the
// next step.
func (e *Executor) floats(raw []byte) []float32 {
	e.out = slices.Grow(e.out[:0], len(raw)/4)[:len(raw)/4]
	for i := range e.out {
		e.out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return e.out
}

// RunSample implements compute.SamplingExecutor: each output row with a
// sampler is drawn on the device, as the graph's tail, in the same
// submit as the forward pass, which returns the ids. Rows without one
// come back as logits, as from Run; so does a row whose chain the
// device sampler cannot hold (see ops.MaxCandidates), drawn on the CPU.
func (e *Executor) RunSample(g *compute.Graph, batch *compute.Batch, smps []*sampling.Sampler) ([]int32, []float32, error) {
	vocab := g.Node(g.Out).Shape.Cols
	if len(smps) != g.Batch.Outputs || g.Batch.Outputs == 0 {
		return nil, nil, fmt.Errorf("vulkan: %d samplers for a step of %d output rows", len(smps), g.Batch.Outputs)
	}
	// Bind first: binding may replace slot 0, to which the samplers bind.
	b, err := e.graph(g)
	if err != nil {
		return nil, nil, err
	}
	if err := e.bindSamplers(vocab, len(smps)); err != nil {
		return nil, nil, err
	}
	row := uint64(4 * vocab)
	res := e.slots[0]
	mapped := res.Bytes() != nil
	readLogits := false
	e.onHost = e.onHost[:0]
	for i, smp := range smps {
		host := smp == nil || noneAllowed(smp.Mask())
		e.onHost = append(e.onHost, host)
		readLogits = readLogits || host || e.samplers[i].MayOverflow(smp.Params())
	}
	if readLogits && !mapped {
		if err := e.ensureReadback(b.outBytes); err != nil {
			return nil, nil, err
		}
	}
	if _, err := e.record(g, batch); err != nil {
		return nil, nil, err
	}
	st := e.step
	st.Barrier()
	for i := range smps {
		st.Copy(vk.Range{Buf: res, Off: uint64(i) * row, Size: row}, vk.Range{Buf: e.sampleRows, Off: uint64(i) * paddedRow(row), Size: row})
	}
	st.Barrier()
	// An error here (a penalty history larger than a sampler's room)
	// still submits the forward pass, whose cache writes the caller has
	// asked for.
	var recErr error
	for i, smp := range smps {
		if !e.onHost[i] && recErr == nil {
			recErr = e.samplers[i].Record(st, smp, false)
		}
	}
	raw := res.Bytes()
	if readLogits && !mapped {
		st.Copy(vk.Range{Buf: res, Size: b.outBytes}, vk.Range{Buf: e.readback, Size: b.outBytes})
		raw = e.readback.Bytes()
	}
	if err := e.submit(); err != nil {
		return nil, nil, err
	}
	if recErr != nil {
		return nil, nil, recErr
	}
	var logits []float32
	if readLogits {
		logits = e.floats(raw[:b.outBytes])
	}
	ids := make([]int32, len(smps))
	for i, smp := range smps {
		ids[i] = -1
		if e.onHost[i] {
			continue
		}
		r := e.samplers[i].Result()
		if r.Overflow {
			if ids[i] = smp.Sample(logits[uint64(i)*row/4:][:vocab]); ids[i] < 0 {
				return nil, nil, fmt.Errorf("vulkan: %w", smp.Err())
			}
			continue
		}
		if err := smp.Drawn(r.ID, r.Drew); err != nil {
			return nil, nil, fmt.Errorf("vulkan: %w", err)
		}
		ids[i] = r.ID
	}
	return ids, logits, nil
}

// noneAllowed reports whether a constraint's mask allows no token: such
// a row is left to the host, whose draw then fails for its sequence
// alone (sampling.ErrNoToken) rather than for the whole step.
func noneAllowed(mask []uint64) bool {
	if mask == nil {
		return false
	}
	for _, w := range mask {
		if w != 0 {
			return false
		}
	}
	return true
}

// paddedRow is a row of logits in the samplers' buffer: a multiple of
// 256 bytes, the largest storage-buffer offset alignment Vulkan allows
// a device to ask for, so that each sampler binds its own row.
func paddedRow(row uint64) uint64 { return (row + 255) / 256 * 256 }

// bindSamplers binds n device samplers, sampler i to row i of the
// samplers' buffer, where each step copies its output rows.
func (e *Executor) bindSamplers(vocab, n int) error {
	row := uint64(4 * vocab)
	if e.samplerVocab != vocab || len(e.samplers) < n {
		e.closeSamplers()
		buf, err := e.k.Dev.NewBuffer(uint64(n)*paddedRow(row), vk.DeviceLocal)
		if err != nil {
			return fmt.Errorf("vulkan: the samplers' rows: %w", err)
		}
		e.sampleRows = buf
	}
	for i := len(e.samplers); i < n; i++ {
		sets := e.k.Dev.NewSets()
		s, err := e.k.NewSampler(sets, vk.Range{Buf: e.sampleRows, Off: uint64(i) * paddedRow(row), Size: row}, vocab, e.cells)
		if err != nil {
			sets.Close()
			return fmt.Errorf("vulkan: %w", err)
		}
		e.samplers, e.samplerSets, e.samplerVocab = append(e.samplers, s), append(e.samplerSets, sets), vocab
	}
	return nil
}

// closeSamplers frees the bound samplers and their rows.
func (e *Executor) closeSamplers() {
	for i, s := range e.samplers {
		s.Close()
		e.samplerSets[i].Close()
	}
	e.sampleRows.Close()
	e.samplers, e.samplerSets, e.sampleRows = nil, nil, nil
}

// submit runs the recorded step and, when the device profiles, adds its
// op times to the executor's totals.
func (e *Executor) submit() error {
	if err := e.step.Submit(); err != nil {
		return err
	}
	ops := e.step.Profile()
	if len(ops) == 0 {
		return nil
	}
	e.profileMu.Lock()
	defer e.profileMu.Unlock()
	for _, op := range ops {
		if e.profile == nil {
			e.profile = map[string]*vk.OpTime{}
		}
		t := e.profile[op.Op]
		if t == nil {
			t = &vk.OpTime{Op: op.Op}
			e.profile[op.Op] = t
		}
		t.Calls += op.Calls
		t.Time += op.Time
	}
	return nil
}

// TakeProfile returns the GPU time per op of the steps since the last
// call, longest first, and starts counting again; nil unless the device
// profiles (VKINFER_PROFILE=1).
func (e *Executor) TakeProfile() []vk.OpTime {
	e.profileMu.Lock()
	defer e.profileMu.Unlock()
	if len(e.profile) == 0 {
		return nil
	}
	out := make([]vk.OpTime, 0, len(e.profile))
	for _, t := range e.profile {
		out = append(out, *t)
	}
	clear(e.profile)
	slices.SortFunc(out, func(a, b vk.OpTime) int { return cmp.Compare(b.Time, a.Time) })
	return out
}

// Forget unbinds g if it is bound (runner calls it for a graph it no
// longer keeps).
func (e *Executor) Forget(g *compute.Graph) {
	if b := e.bound[g]; b != nil {
		b.sets.Close()
		delete(e.bound, g)
		e.lru = slices.DeleteFunc(e.lru, func(x *compute.Graph) bool { return x == g })
	}
}
