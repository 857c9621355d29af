package llama

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// VulkanBatch is the most tokens one device step evaluates; longer
// prompts go through in steps of this many. A session with a context so
// long that its attention scratch (batch x heads x context floats) would
// exceed the device's storage-buffer range takes fewer.
const VulkanBatch = 128

// VulkanModel is a model whose weights live on a Vulkan device, uploaded
// once in their stored (quantized) form. Sessions share it.
type VulkanModel struct {
	M *Model
	K *ops.Kernels

	tokEmbd, output *ops.Weight
	outNorm         *vk.Buffer
	freq            *vk.Buffer
	layers          []vkLayer
}

type vkLayer struct {
	wq, wk, wv, wo, gate, up, down *ops.Weight
	attnNorm, ffnNorm              *vk.Buffer
	bq, bk, bv                     *vk.Buffer // nil when absent
	qNorm, kNorm                   *vk.Buffer // nil when absent
}

// UploadVulkan copies m's weights to k's device.
func (m *Model) UploadVulkan(k *ops.Kernels) (*VulkanModel, error) {
	vm := &VulkanModel{M: m, K: k}
	var firstErr error
	matrix := func(t *model.Tensor) *ops.Weight {
		if firstErr != nil {
			return nil
		}
		w, err := k.Upload(t.Name, t.Type, t.Rows(), t.Cols(), t.Data)
		if err != nil {
			firstErr = fmt.Errorf("llama: %w", err)
		}
		return w
	}
	vector := func(t *model.Tensor) *vk.Buffer {
		if firstErr != nil || !t.Present() {
			return nil
		}
		v, err := t.Float32()
		if err == nil {
			var b *vk.Buffer
			if b, err = k.Floats(v); err == nil {
				return b
			}
		}
		firstErr = fmt.Errorf("llama: tensor %q: %w", t.Name, err)
		return nil
	}
	vm.tokEmbd = matrix(&m.TokenEmbd)
	vm.output = vm.tokEmbd
	if !m.TiedOutput {
		vm.output = matrix(&m.Output)
	}
	vm.outNorm = vector(&m.OutputNorm)
	freq64, err := m.RopeFrequencies()
	if err != nil && firstErr == nil {
		firstErr = err
	}
	freq := make([]float32, len(freq64))
	for i, f := range freq64 {
		freq[i] = float32(f)
	}
	if firstErr == nil {
		vm.freq, firstErr = k.Floats(freq)
	}
	vm.layers = make([]vkLayer, len(m.Layers))
	for i := range m.Layers {
		L, V := &m.Layers[i], &vm.layers[i]
		V.attnNorm, V.ffnNorm = vector(&L.AttnNorm), vector(&L.FFNNorm)
		V.wq, V.wk, V.wv, V.wo = matrix(&L.Wq), matrix(&L.Wk), matrix(&L.Wv), matrix(&L.Wo)
		V.gate, V.up, V.down = matrix(&L.Gate), matrix(&L.Up), matrix(&L.Down)
		V.bq, V.bk, V.bv = vector(&L.Bq), vector(&L.Bk), vector(&L.Bv)
		V.qNorm, V.kNorm = vector(&L.QNorm), vector(&L.KNorm)
	}
	if firstErr != nil {
		vm.Close()
		return nil, firstErr
	}
	return vm, nil
}

// Close frees the device copies of the weights.
func (vm *VulkanModel) Close() {
	closeW := func(w *ops.Weight) {
		if w != nil {
			w.Close()
		}
	}
	if vm.output != vm.tokEmbd {
		closeW(vm.output)
	}
	closeW(vm.tokEmbd)
	vm.outNorm.Close()
	vm.freq.Close()
	for _, L := range vm.layers {
		for _, w := range []*ops.Weight{L.wq, L.wk, L.wv, L.wo, L.gate, L.up, L.down} {
			closeW(w)
		}
		for _, b := range []*vk.Buffer{L.attnNorm, L.ffnNorm, L.bq, L.bk, L.bv, L.qNorm, L.kNorm} {
			b.Close()
		}
	}
	vm.layers = nil
}

// DeviceBytes returns the device memory the weights use.
func (vm *VulkanModel) DeviceBytes() uint64 {
	var n uint64
	add := func(w *ops.Weight) {
		if w != nil {
			n += w.Bytes()
		}
	}
	add(vm.tokEmbd)
	if vm.output != vm.tokEmbd {
		add(vm.output)
	}
	for _, L := range vm.layers {
		for _, w := range []*ops.Weight{L.wq, L.wk, L.wv, L.wo, L.gate, L.up, L.down} {
			add(w)
		}
	}
	return n
}

// VulkanSession runs the forward pass and the sampler on the device. Its
// KV cache and activations live there; a step reads back one token id.
// Eval records the step and Sample (or Logits) submits it, so the
// forward pass and the draw go to the device in one submit.
type VulkanSession struct {
	vm    *VulkanModel
	ctx   int
	batch int // tokens per device step: VulkanBatch, or less for a long context

	bufs                         []*vk.Buffer
	x, xb, q, att, gate, up, ids *vk.Buffer
	logits, scratch              *vk.Buffer
	// readback receives what the host reads (logits, hidden states) by a
	// copy inside the step when those buffers are not host-visible.
	readback     *vk.Buffer
	keys, values []*vk.Buffer
	sets         *vk.Sets
	step         *vk.Step
	// inputs rounds the matrix products' inputs as llama.cpp does.
	inputs *ops.Inputs

	embed       *ops.GetRows
	outNorm     *ops.RMSNorm
	outIn       *ops.Input
	outMat      *ops.MatVec
	layers      []vkSessionLayer
	sampler     *ops.Sampler
	idBytes     []byte
	logitsOut   []float32
	outNormHost []float32 // the output norm's weights, for EvalHidden

	pending   bool // a recorded step awaits submission
	evaluated bool
	// hostLogits: readback holds the last evaluated token's logits.
	hostLogits bool

	profile map[string]*vk.OpTime // GPU time per op since TakeProfile, when profiling
}

type vkSessionLayer struct {
	attnNorm, ffnNorm *ops.RMSNorm
	// The inputs of the products: the normed x (for wq, wk, wv and for
	// gate, up), the attention output (wo) and the gated FFN (down).
	attnIn, woIn, ffnIn, downIn *ops.Input
	qNorm, kNorm                *ops.RMSNorm // nil when absent
	wq, wk, wv, wo              *ops.MatVec
	gate, up, down              *ops.MatVec
	ropeQ, ropeK                *ops.Rope
	attn                        *ops.Attention
	silu                        *ops.Elementwise
}

// NewSession returns a device session with room for ctx positions (the
// trained context when ctx <= 0).
func (vm *VulkanModel) NewSession(ctx int) (_ *VulkanSession, err error) {
	c, k := vm.M.Config, vm.K
	if ctx <= 0 {
		ctx = c.ContextLength
	}
	B := VulkanBatch
	for B > 1 && uint64(4*B*c.Heads*ctx) > k.Dev.Info.MaxStorageBufferRange {
		B /= 2 // the attention scratch must bind as one range
	}
	s := &VulkanSession{vm: vm, ctx: ctx, batch: B, sets: k.Dev.NewSets(), idBytes: make([]byte, 4*B)}
	defer func() {
		if err != nil {
			s.Close()
			err = fmt.Errorf("llama: vulkan session: %w", err)
		}
	}()
	buf := func(floats int) *vk.Buffer {
		if err != nil {
			return nil
		}
		var b *vk.Buffer
		if b, err = k.Dev.NewBuffer(uint64(4*floats), vk.DeviceLocal); err == nil {
			s.bufs = append(s.bufs, b)
		}
		return b
	}
	s.x, s.xb = buf(B*c.Dim), buf(B*c.Dim)
	s.q, s.att = buf(B*c.QDim()), buf(B*c.QDim())
	s.gate, s.up = buf(B*c.FFN), buf(B*c.FFN)
	s.ids = buf(B)
	s.logits = buf(c.VocabSize)
	s.scratch = buf(B * c.Heads * ctx)
	for range c.Layers {
		s.keys = append(s.keys, buf(ctx*c.KVDim()))
		s.values = append(s.values, buf(ctx*c.KVDim()))
	}
	if err != nil {
		return nil, err
	}
	if s.readback, err = k.Dev.NewBuffer(uint64(4*max(c.VocabSize, B*c.Dim)), vk.HostVisible); err != nil {
		return nil, err
	}
	s.bufs = append(s.bufs, s.readback)
	sets := s.sets
	s.inputs = k.NewInputs(sets, B*max(c.Dim, c.QDim(), c.FFN))
	if s.embed, err = k.BindGetRows(sets, vm.tokEmbd, s.ids.All(), s.x.All()); err != nil {
		return nil, err
	}
	if s.outNorm, err = k.BindRMSNorm(sets, s.x.All(), vm.outNorm.All(), s.xb.All()); err != nil {
		return nil, err
	}
	s.outIn = s.inputs.Input(s.xb.All())
	if s.outMat, err = s.outIn.BindMatVec(vm.output, s.logits.All(), vk.Range{}); err != nil {
		return nil, err
	}
	opt := func(b *vk.Buffer) vk.Range {
		if b == nil {
			return vk.Range{}
		}
		return b.All()
	}
	s.layers = make([]vkSessionLayer, c.Layers)
	for l := range s.layers {
		V, S := &vm.layers[l], &s.layers[l]
		kc, vc := s.keys[l].All(), s.values[l].All()
		S.attnIn, S.woIn = s.inputs.Input(s.xb.All()), s.inputs.Input(s.att.All())
		S.ffnIn, S.downIn = s.inputs.Input(s.xb.All()), s.inputs.Input(s.gate.All())
		steps := []func() error{
			func() (e error) { S.attnNorm, e = k.BindRMSNorm(sets, s.x.All(), V.attnNorm.All(), s.xb.All()); return },
			func() (e error) { S.wq, e = S.attnIn.BindMatVec(V.wq, s.q.All(), opt(V.bq)); return },
			func() (e error) { S.wk, e = S.attnIn.BindMatVec(V.wk, kc, opt(V.bk)); return },
			func() (e error) { S.wv, e = S.attnIn.BindMatVec(V.wv, vc, opt(V.bv)); return },
			func() (e error) { S.ropeQ, e = k.BindRope(sets, s.q.All(), vm.freq.All()); return },
			func() (e error) { S.ropeK, e = k.BindRope(sets, kc, vm.freq.All()); return },
			func() (e error) {
				S.attn, e = k.BindAttention(sets, true, s.q.All(), kc, vc, s.att.All(), s.scratch.All(), vk.Range{})
				return
			},
			func() (e error) { S.wo, e = S.woIn.BindMatVec(V.wo, s.x.All(), vk.Range{}); return },
			func() (e error) { S.ffnNorm, e = k.BindRMSNorm(sets, s.x.All(), V.ffnNorm.All(), s.xb.All()); return },
			func() (e error) { S.gate, e = S.ffnIn.BindMatVec(V.gate, s.gate.All(), vk.Range{}); return },
			func() (e error) { S.up, e = S.ffnIn.BindMatVec(V.up, s.up.All(), vk.Range{}); return },
			func() (e error) { S.silu, e = k.BindElementwise(sets, "silu_mul", s.gate.All(), s.up.All()); return },
			func() (e error) { S.down, e = S.downIn.BindMatVec(V.down, s.x.All(), vk.Range{}); return },
		}
		if V.qNorm != nil {
			steps = append(steps, func() (e error) { S.qNorm, e = k.BindRMSNorm(sets, s.q.All(), V.qNorm.All(), s.q.All()); return })
		}
		if V.kNorm != nil {
			steps = append(steps, func() (e error) { S.kNorm, e = k.BindRMSNorm(sets, kc, V.kNorm.All(), kc); return })
		}
		for _, f := range steps {
			if err = f(); err != nil {
				return nil, fmt.Errorf("block %d: %w", l, err)
			}
		}
	}
	if s.sampler, err = k.NewSampler(sets, s.logits.All(), c.VocabSize, max(ctx, 1)); err != nil {
		return nil, err
	}
	if s.step, err = k.Dev.NewStep(); err != nil {
		return nil, err
	}
	return s, nil
}

// ContextSize implements model.Session.
func (s *VulkanSession) ContextSize() int { return s.ctx }

// Close implements model.Session.
func (s *VulkanSession) Close() error {
	if s.step != nil {
		s.step.Close()
		s.step = nil
	}
	if s.sampler != nil {
		s.sampler.Close()
		s.sampler = nil
	}
	s.sets.Close()
	if s.inputs != nil {
		s.inputs.Close()
	}
	for _, b := range s.bufs {
		b.Close()
	}
	s.bufs = nil
	return nil
}

// Eval implements model.Session. It records the forward pass of tokens
// at pos; all but the last batch-sized part are submitted now, the
// last goes with the next Sample or Logits.
func (s *VulkanSession) Eval(tokens []int32, pos int) error {
	c := s.vm.M.Config
	if pos < 0 || pos+len(tokens) > s.ctx {
		return fmt.Errorf("llama: %d tokens at position %d do not fit a context of %d: %w", len(tokens), pos, s.ctx, model.ErrContextFull)
	}
	for _, tok := range tokens {
		if tok < 0 || int(tok) >= c.VocabSize {
			return fmt.Errorf("llama: token %d outside the vocabulary of %d", tok, c.VocabSize)
		}
	}
	if len(tokens) == 0 {
		return nil
	}
	s.evaluated = false
	for len(tokens) > 0 {
		if err := s.flush(); err != nil {
			return err
		}
		n := min(len(tokens), s.batch)
		if err := s.record(tokens[:n], pos); err != nil {
			return err
		}
		tokens, pos = tokens[n:], pos+n
	}
	s.evaluated = true
	return nil
}

// flush submits a recorded step that nobody sampled from.
func (s *VulkanSession) flush() error {
	if !s.pending {
		return nil
	}
	s.pending = false
	return s.submit()
}

// submit runs the recorded step and, when the device profiles, adds its
// op times to the session's totals.
func (s *VulkanSession) submit() error {
	if err := s.step.Submit(); err != nil {
		return err
	}
	for _, op := range s.step.Profile() {
		if s.profile == nil {
			s.profile = map[string]*vk.OpTime{}
		}
		t := s.profile[op.Op]
		if t == nil {
			t = &vk.OpTime{Op: op.Op}
			s.profile[op.Op] = t
		}
		t.Calls += op.Calls
		t.Time += op.Time
	}
	return nil
}

// TakeProfile returns the GPU time per op of the steps since the last
// call, longest first, and starts counting again; nil unless the device
// profiles (VKINFER_PROFILE=1).
func (s *VulkanSession) TakeProfile() []vk.OpTime {
	if len(s.profile) == 0 {
		return nil
	}
	out := make([]vk.OpTime, 0, len(s.profile))
	for _, t := range s.profile {
		out = append(out, *t)
	}
	clear(s.profile)
	slices.SortFunc(out, func(a, b vk.OpTime) int { return cmp.Compare(b.Time, a.Time) })
	return out
}

func (s *VulkanSession) record(tokens []int32, pos int) error {
	c, k, st := s.vm.M.Config, s.vm.K, s.step
	n := len(tokens)
	for i, t := range tokens {
		binary.LittleEndian.PutUint32(s.idBytes[4*i:], uint32(t))
	}
	if err := st.Begin(); err != nil {
		return err
	}
	s.hostLogits = false
	// The ids go in with the step: a staged write would cost a submit.
	if err := st.Update(s.ids, 0, s.idBytes[:4*n]); err != nil {
		return err
	}
	st.Barrier()
	dim, qDim, kvDim, hd := c.Dim, c.QDim(), c.KVDim(), c.HeadDim
	s.embed.Record(st, n, dim)
	st.Barrier()
	for l := range s.layers {
		S := &s.layers[l]
		S.attnNorm.Record(st, n, dim, 0, 0, c.NormEps)
		st.Barrier()
		S.attnIn.Record(st, n, dim)
		S.wq.Record(k, st, n, dim, qDim, 0, false)
		S.wk.Record(k, st, n, dim, kvDim, pos*kvDim, false)
		S.wv.Record(k, st, n, dim, kvDim, pos*kvDim, false)
		st.Barrier()
		if S.qNorm != nil {
			S.qNorm.Record(st, n*c.Heads, hd, 0, 0, c.NormEps)
			S.kNorm.Record(st, n*c.KVHeads, hd, pos*kvDim, pos*kvDim, c.NormEps)
			st.Barrier()
		}
		S.ropeQ.Record(st, n, c.Heads, hd, c.RopeDim, c.Rope == RopeNeoX, pos, 0, qDim)
		S.ropeK.Record(st, n, c.KVHeads, hd, c.RopeDim, c.Rope == RopeNeoX, pos, pos*kvDim, kvDim)
		st.Barrier()
		S.attn.Record(st, ops.AttentionShape{N: n, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: hd, QStride: qDim,
			KVStride: kvDim, Pos0: pos, Causal: true, ScratchStride: s.ctx, Scale: float32(1 / math.Sqrt(float64(hd)))})
		st.Barrier()
		S.woIn.Record(st, n, qDim)
		S.wo.Record(k, st, n, qDim, dim, 0, true)
		st.Barrier()
		S.ffnNorm.Record(st, n, dim, 0, 0, c.NormEps)
		st.Barrier()
		S.ffnIn.Record(st, n, dim)
		S.gate.Record(k, st, n, dim, c.FFN, 0, false)
		S.up.Record(k, st, n, dim, c.FFN, 0, false)
		st.Barrier()
		S.silu.Record(st, n*c.FFN)
		st.Barrier()
		S.downIn.Record(st, n, c.FFN)
		S.down.Record(k, st, n, c.FFN, dim, 0, true)
		st.Barrier()
	}
	s.outNorm.Record(st, 1, dim, (n-1)*dim, 0, c.NormEps)
	st.Barrier()
	s.outIn.Record(st, 1, dim)
	s.outMat.Record(k, st, 1, dim, c.VocabSize, 0, false)
	st.Barrier()
	s.pending = true
	return nil
}

// read returns the first n bytes of b as the last step left them. A
// mapped b is read in place once a pending step is submitted; otherwise
// a copy to readback joins the pending step (or a step of its own when
// none is pending), never Buffer.Read's staging submit.
func (s *VulkanSession) read(b *vk.Buffer, n int) ([]byte, error) {
	if m := b.Bytes(); m != nil {
		if err := s.flush(); err != nil {
			return nil, err
		}
		return m[:n], nil
	}
	if !s.pending {
		if err := s.step.Begin(); err != nil {
			return nil, err
		}
		s.pending = true
	}
	s.step.Copy(vk.Range{Buf: b, Size: uint64(n)}, vk.Range{Buf: s.readback, Size: uint64(n)})
	if err := s.flush(); err != nil {
		return nil, err
	}
	return s.readback.Bytes()[:n], nil
}

// Sample implements model.Session: the draw runs on the device in the
// same submit as the forward pass, and one token id comes back. A chain
// the device cannot hold (see ops.MaxCandidates) is sampled on the CPU.
func (s *VulkanSession) Sample(smp *sampling.Sampler) (int32, error) {
	if !s.evaluated {
		return 0, errors.New("llama: sample requested before any Eval")
	}
	if !s.pending {
		// A second draw from the same logits: replay only the sampler.
		if err := s.step.Begin(); err != nil {
			return 0, err
		}
	}
	if err := s.sampler.Record(s.step, smp, false); err != nil {
		return 0, err
	}
	// Logits the CPU may have to sample come out in this same submit.
	copyLogits := s.logits.Bytes() == nil && s.sampler.MayOverflow(smp.Params())
	if copyLogits {
		s.step.Copy(s.logits.All(), vk.Range{Buf: s.readback, Size: s.logits.Size()})
	}
	s.pending = false
	if err := s.submit(); err != nil {
		return 0, err
	}
	s.hostLogits = copyLogits
	res := s.sampler.Result()
	if res.Overflow {
		l, err := s.Logits()
		if err != nil {
			return 0, err
		}
		return smp.Sample(l), nil
	}
	if res.Drew {
		smp.NextUniform()
	}
	smp.Accept(res.ID)
	return res.ID, nil
}

// Logits implements model.Session: it reads the logits of the last
// evaluated token back, submitting a pending step with the readback in it.
func (s *VulkanSession) Logits() ([]float32, error) {
	if !s.evaluated {
		return nil, errors.New("llama: logits requested before any Eval")
	}
	c := s.vm.M.Config
	var raw []byte
	if s.hostLogits {
		raw = s.readback.Bytes()[:4*c.VocabSize]
	} else {
		var err error
		if raw, err = s.read(s.logits, 4*c.VocabSize); err != nil {
			return nil, err
		}
		s.hostLogits = s.logits.Bytes() == nil
	}
	if s.logitsOut == nil {
		s.logitsOut = make([]float32, c.VocabSize)
	}
	for i := range s.logitsOut {
		s.logitsOut[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return s.logitsOut, nil
}

// Profile returns the GPU time per op of the last submitted step when
// the device profiles (VKINFER_PROFILE=1).
func (s *VulkanSession) Profile() []vk.OpTime { return s.step.Profile() }

// EvalHidden implements HiddenEvaluator: each device step's hidden states
// are read back and the output norm applied on the host, so sequences
// longer than one device batch pool as they go.
func (s *VulkanSession) EvalHidden(tokens []int32, each func(row []float32)) error {
	c := s.vm.M.Config
	if len(tokens) > s.ctx {
		return fmt.Errorf("llama: %d tokens do not fit a context of %d: %w", len(tokens), s.ctx, model.ErrContextFull)
	}
	for _, tok := range tokens {
		if tok < 0 || int(tok) >= c.VocabSize {
			return fmt.Errorf("llama: token %d outside the vocabulary of %d", tok, c.VocabSize)
		}
	}
	if s.outNormHost == nil {
		w, err := s.vm.M.OutputNorm.Float32()
		if err != nil {
			return err
		}
		s.outNormHost = w
	}
	if err := s.flush(); err != nil {
		return err
	}
	s.evaluated = false
	x, row := make([]float32, c.Dim), make([]float32, c.Dim)
	for pos := 0; pos < len(tokens); pos += s.batch {
		chunk := tokens[pos:min(pos+s.batch, len(tokens))]
		if err := s.record(chunk, pos); err != nil {
			return err
		}
		n := len(chunk)
		raw, err := s.read(s.x, 4*n*c.Dim)
		if err != nil {
			return err
		}
		for b := range n {
			for i := range x {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(b*c.Dim+i):]))
			}
			kernels.RMSNorm(row, x, s.outNormHost, c.NormEps, true)
			each(row)
		}
	}
	s.evaluated = true
	return nil
}
