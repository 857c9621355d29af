package bert

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// VulkanModel is an encoder whose weights live on a Vulkan device in
// their stored (quantized) form. Encoders made from it share them.
type VulkanModel struct {
	M *Model
	K *ops.Kernels

	tokEmbd *ops.Weight
	// posType is the position table with the token-type-0 row added, so
	// one lookup gives both (inputs are always "sentence A").
	posType  *ops.Weight
	embdNorm vkNorm
	layers   []vkLayer
	bufs     []*vk.Buffer
}

type vkNorm struct{ w, b *vk.Buffer }

type vkLayer struct {
	q, k, v, o, up, down       *ops.Weight
	bq, bk, bv, bo, bUp, bDown *vk.Buffer
	attnNorm, outNorm          vkNorm
}

// UploadVulkan copies m's weights to k's device.
func (m *Model) UploadVulkan(k *ops.Kernels) (_ *VulkanModel, err error) {
	vm := &VulkanModel{M: m, K: k}
	defer func() {
		if err != nil {
			vm.Close()
			err = fmt.Errorf("bert: vulkan: %w", err)
		}
	}()
	matrix := func(t *Tensor) *ops.Weight {
		if err != nil {
			return nil
		}
		var w *ops.Weight
		w, err = k.Upload(t.Name, t.Type, t.Rows(), t.Cols(), t.Data)
		return w
	}
	vector := func(v []float32) *vk.Buffer {
		if err != nil {
			return nil
		}
		var b *vk.Buffer
		if b, err = k.Floats(v); err == nil {
			vm.bufs = append(vm.bufs, b)
		}
		return b
	}
	c := m.Config
	vm.tokEmbd = matrix(&m.TokenEmbd)
	posType := make([]float32, c.ContextLength*c.Embd)
	for p := range c.ContextLength {
		row := posType[p*c.Embd : (p+1)*c.Embd]
		if err = m.PosEmbd.Row(p, row); err != nil {
			return nil, err
		}
		if m.typeRow0 != nil {
			add(row, m.typeRow0)
		}
	}
	raw := make([]byte, 4*len(posType))
	for i, v := range posType {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	if vm.posType, err = k.Upload("position_embd+token_types[0]", gguf.TypeF32, c.ContextLength, c.Embd, raw); err != nil {
		return nil, err
	}
	vm.embdNorm = vkNorm{vector(m.embdNorm.w), vector(m.embdNorm.b)}
	vm.layers = make([]vkLayer, len(m.Layers))
	for i := range m.Layers {
		l, lv, V := &m.Layers[i], &m.layerVecs[i], &vm.layers[i]
		V.q, V.k, V.v, V.o = matrix(&l.AttnQ), matrix(&l.AttnK), matrix(&l.AttnV), matrix(&l.AttnOut)
		V.up, V.down = matrix(&l.FFNUp), matrix(&l.FFNDown)
		V.bq, V.bk, V.bv, V.bo = vector(lv.bq), vector(lv.bk), vector(lv.bv), vector(lv.bo)
		V.bUp, V.bDown = vector(lv.bUp), vector(lv.bDown)
		V.attnNorm = vkNorm{vector(lv.attnNorm.w), vector(lv.attnNorm.b)}
		V.outNorm = vkNorm{vector(lv.outNorm.w), vector(lv.outNorm.b)}
	}
	if err != nil {
		return nil, err
	}
	return vm, nil
}

// Close frees the device copies of the weights.
func (vm *VulkanModel) Close() {
	for _, w := range []*ops.Weight{vm.tokEmbd, vm.posType} {
		if w != nil {
			w.Close()
		}
	}
	for _, L := range vm.layers {
		for _, w := range []*ops.Weight{L.q, L.k, L.v, L.o, L.up, L.down} {
			if w != nil {
				w.Close()
			}
		}
	}
	for _, b := range vm.bufs {
		b.Close()
	}
	vm.layers, vm.bufs = nil, nil
}

// VulkanEncoder runs forward passes on the device: its activations live
// there, and one submit computes a whole batch. It serves one caller at a
// time (a pool worker); make one per worker.
type VulkanEncoder struct {
	vm   *VulkanModel
	max  int // tokens per forward pass
	sets *vk.Sets
	step *vk.Step
	bufs []*vk.Buffer
	// inputs rounds the matrix products' inputs as llama.cpp does.
	inputs *ops.Inputs

	x, tmp, q, k, v, att, up    *vk.Buffer
	ids, pos, ranges, scratch   *vk.Buffer
	tokRows, posRows            *ops.GetRows
	addPos                      *ops.Elementwise
	embdNorm                    *ops.LayerNorm
	layers                      []encLayer
	idBytes, posBytes, rngBytes []byte
	// readback receives the hidden states by a copy inside the pass when
	// x is not host-visible; nil when x is mapped.
	readback *vk.Buffer
}

type encLayer struct {
	// The inputs of the products: x (for q, k, v), the attention output
	// (o), the normed x (up) and the GELU output (down).
	qkvIn, oIn, upIn, downIn *ops.Input
	q, k, v, o, up, down     *ops.MatVec
	attn                     *ops.Attention
	attnNorm, outNorm        *ops.LayerNorm
	gelu                     *ops.Elementwise
}

// NewEncoder returns an encoder whose passes hold up to the model's
// context length or 1024 tokens, whichever is more.
func (vm *VulkanModel) NewEncoder() (_ *VulkanEncoder, err error) {
	c, k := vm.M.Config, vm.K
	e := &VulkanEncoder{vm: vm, max: max(1024, c.ContextLength), sets: k.Dev.NewSets()}
	defer func() {
		if err != nil {
			e.Close()
			err = fmt.Errorf("bert: vulkan encoder: %w", err)
		}
	}()
	n := e.max
	buf := func(words int) *vk.Buffer {
		if err != nil {
			return nil
		}
		var b *vk.Buffer
		if b, err = k.Dev.NewBuffer(uint64(4*words), vk.DeviceLocal); err == nil {
			e.bufs = append(e.bufs, b)
		}
		return b
	}
	d := c.Embd
	e.x, e.tmp, e.q, e.k, e.v, e.att = buf(n*d), buf(n*d), buf(n*d), buf(n*d), buf(n*d), buf(n*d)
	e.up = buf(n * c.FFN)
	e.ids, e.pos, e.ranges = buf(n), buf(n), buf(2*n)
	e.scratch = buf(n * c.Heads * c.ContextLength)
	if err != nil {
		return nil, err
	}
	if e.x.Bytes() == nil {
		if e.readback, err = k.Dev.NewBuffer(e.x.Size(), vk.HostVisible); err != nil {
			return nil, err
		}
		e.bufs = append(e.bufs, e.readback)
	}
	bind := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	s := e.sets
	e.inputs = k.NewInputs(s, n*max(d, c.FFN))
	bind(func() (err error) { e.tokRows, err = k.BindGetRows(s, vm.tokEmbd, e.ids.All(), e.x.All()); return })
	bind(func() (err error) { e.posRows, err = k.BindGetRows(s, vm.posType, e.pos.All(), e.tmp.All()); return })
	bind(func() (err error) { e.addPos, err = k.BindElementwise(s, "add", e.x.All(), e.tmp.All()); return })
	bind(func() (err error) {
		e.embdNorm, err = k.BindLayerNorm(s, e.x.All(), vm.embdNorm.w.All(), vm.embdNorm.b.All(), e.x.All())
		return
	})
	e.layers = make([]encLayer, len(vm.layers))
	for i := range vm.layers {
		V, L := &vm.layers[i], &e.layers[i]
		L.qkvIn, L.oIn = e.inputs.Input(e.x.All()), e.inputs.Input(e.att.All())
		L.upIn, L.downIn = e.inputs.Input(e.x.All()), e.inputs.Input(e.up.All())
		bind(func() (err error) { L.q, err = L.qkvIn.BindMatVec(V.q, e.q.All(), V.bq.All()); return })
		bind(func() (err error) { L.k, err = L.qkvIn.BindMatVec(V.k, e.k.All(), V.bk.All()); return })
		bind(func() (err error) { L.v, err = L.qkvIn.BindMatVec(V.v, e.v.All(), V.bv.All()); return })
		bind(func() (err error) {
			// f32 attention: llama.cpp's BERT graph keeps no f16 cache.
			L.attn, err = k.BindAttention(s, false, e.q.All(), e.k.All(), e.v.All(), e.att.All(), e.scratch.All(), e.ranges.All())
			return
		})
		bind(func() (err error) { L.o, err = L.oIn.BindMatVec(V.o, e.x.All(), V.bo.All()); return })
		bind(func() (err error) {
			L.attnNorm, err = k.BindLayerNorm(s, e.x.All(), V.attnNorm.w.All(), V.attnNorm.b.All(), e.x.All())
			return
		})
		bind(func() (err error) { L.up, err = L.upIn.BindMatVec(V.up, e.up.All(), V.bUp.All()); return })
		bind(func() (err error) { L.gelu, err = k.BindElementwise(s, "gelu", e.up.All(), vk.Range{}); return })
		bind(func() (err error) {
			L.down, err = L.downIn.BindMatVec(V.down, e.x.All(), V.bDown.All())
			return
		})
		bind(func() (err error) {
			L.outNorm, err = k.BindLayerNorm(s, e.x.All(), V.outNorm.w.All(), V.outNorm.b.All(), e.x.All())
			return
		})
	}
	if err != nil {
		return nil, err
	}
	if e.step, err = k.Dev.NewStep(); err != nil {
		return nil, err
	}
	return e, nil
}

// Close frees the encoder's buffers and sets.
func (e *VulkanEncoder) Close() {
	e.step.Close()
	e.sets.Close()
	if e.inputs != nil {
		e.inputs.Close()
	}
	for _, b := range e.bufs {
		b.Close()
	}
	e.bufs = nil
}

// Embed is Model.Embed on the device.
func (e *VulkanEncoder) Embed(batch [][]int32, opts Options) ([][]float32, error) {
	return e.vm.M.embedWith(e, batch, opts)
}

// EmbedTexts is Model.EmbedTexts on the device.
func (e *VulkanEncoder) EmbedTexts(tok Tokenizer, texts []string, opts Options) ([][]float32, error) {
	return e.vm.M.embedTextsWith(e, tok, texts, opts)
}

// MaxTokens implements Encoder.
func (e *VulkanEncoder) MaxTokens() int { return e.max }

// Forward implements Encoder: one pass on the device, every op of every layer in one
// command buffer, one submit, and the hidden states read back.
func (e *VulkanEncoder) Forward(seqs [][]int32) ([]float32, []int, error) {
	c, k, st := e.vm.M.Config, e.vm.K, e.step
	start := make([]int, len(seqs)+1)
	longest := 0
	for s, ids := range seqs {
		start[s+1] = start[s] + len(ids)
		longest = max(longest, len(ids))
	}
	n, d := start[len(seqs)], c.Embd
	if n > e.max {
		return nil, nil, fmt.Errorf("bert: vulkan: %d tokens in one pass, room for %d", n, e.max)
	}
	e.idBytes, e.posBytes, e.rngBytes = e.idBytes[:0], e.posBytes[:0], e.rngBytes[:0]
	for s, ids := range seqs {
		for p, id := range ids {
			e.idBytes = binary.LittleEndian.AppendUint32(e.idBytes, uint32(id))
			e.posBytes = binary.LittleEndian.AppendUint32(e.posBytes, uint32(p))
			last := start[s+1]
			if c.Causal {
				last = start[s] + p + 1
			}
			e.rngBytes = binary.LittleEndian.AppendUint32(e.rngBytes, uint32(start[s]))
			e.rngBytes = binary.LittleEndian.AppendUint32(e.rngBytes, uint32(last))
		}
	}
	if err := st.Begin(); err != nil {
		return nil, nil, err
	}
	// The inputs go in with the pass: staged writes would cost a submit each.
	for _, w := range []struct {
		b    *vk.Buffer
		data []byte
	}{{e.ids, e.idBytes}, {e.pos, e.posBytes}, {e.ranges, e.rngBytes}} {
		if err := st.Update(w.b, 0, w.data); err != nil {
			return nil, nil, err
		}
	}
	st.Barrier()
	e.tokRows.Record(st, n, d)
	e.posRows.Record(st, n, d)
	st.Barrier()
	e.addPos.Record(st, n*d)
	st.Barrier()
	e.embdNorm.Record(st, n, d, c.NormEps)
	st.Barrier()
	shape := ops.AttentionShape{N: n, Heads: c.Heads, KVHeads: c.Heads, HeadDim: c.HeadDim, QStride: d, KVStride: d,
		ScratchStride: longest, Scale: float32(1 / math.Sqrt(float64(c.HeadDim)))}
	for i := range e.layers {
		L := &e.layers[i]
		L.qkvIn.Record(st, n, d)
		L.q.Record(k, st, n, d, d, 0, false)
		L.k.Record(k, st, n, d, d, 0, false)
		L.v.Record(k, st, n, d, d, 0, false)
		st.Barrier()
		L.attn.Record(st, shape)
		st.Barrier()
		L.oIn.Record(st, n, d)
		L.o.Record(k, st, n, d, d, 0, true)
		st.Barrier()
		L.attnNorm.Record(st, n, d, c.NormEps)
		st.Barrier()
		L.upIn.Record(st, n, d)
		L.up.Record(k, st, n, d, c.FFN, 0, false)
		st.Barrier()
		L.gelu.Record(st, n*c.FFN)
		st.Barrier()
		L.downIn.Record(st, n, c.FFN)
		L.down.Record(k, st, n, c.FFN, d, 0, true)
		st.Barrier()
		L.outNorm.Record(st, n, d, c.NormEps)
		st.Barrier()
	}
	out := e.x.Bytes()
	if out == nil {
		st.Copy(vk.Range{Buf: e.x, Size: uint64(4 * n * d)}, vk.Range{Buf: e.readback, Size: uint64(4 * n * d)})
		out = e.readback.Bytes()
	}
	if err := st.Submit(); err != nil {
		return nil, nil, err
	}
	raw := out[:4*n*d]
	hidden := make([]float32, n*d)
	for i := range hidden {
		hidden[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return hidden, start, nil
}
