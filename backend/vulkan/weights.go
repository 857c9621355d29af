package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/shaders"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// Weights is a model's tensors on a device, uploaded on first use by a
// graph and kept until Close. Graphs are built per batch shape but name
// the same tensors, so uploads are keyed by tensor name: every shape,
// and every executor of the model, shares one copy. It is safe for
// concurrent use.
type Weights struct {
	K *ops.Kernels

	mu       sync.Mutex
	matrices map[string]*ops.Weight // matmul and get_rows operands, in their stored type
	vectors  map[string]*vk.Buffer  // norm weights, biases, add/mul operands, as f32
	consts   map[constKey]*vk.Buffer
	freqs    map[string]*vk.Buffer // rope frequency tables, by content
	pipes    map[string]*vk.Pipeline
}

type constKey struct {
	v float32
	n int
}

// NewWeights returns an empty set of weights on k's device.
func NewWeights(k *ops.Kernels) *Weights {
	return &Weights{K: k, matrices: map[string]*ops.Weight{}, vectors: map[string]*vk.Buffer{},
		consts: map[constKey]*vk.Buffer{}, freqs: map[string]*vk.Buffer{}, pipes: map[string]*vk.Pipeline{}}
}

// Close frees the device copies. Executors using them must be closed
// first.
func (w *Weights) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.matrices {
		m.Close()
	}
	for _, m := range []map[string]*vk.Buffer{w.vectors, w.freqs} {
		for _, b := range m {
			b.Close()
		}
	}
	for _, b := range w.consts {
		b.Close()
	}
	for _, p := range w.pipes {
		p.Close()
	}
	clear(w.matrices)
	clear(w.vectors)
	clear(w.consts)
	clear(w.freqs)
	clear(w.pipes)
}

// DeviceBytes returns the device memory the uploaded tensors use.
func (w *Weights) DeviceBytes() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n uint64
	for _, m := range w.matrices {
		n += m.Bytes()
	}
	for _, b := range w.vectors {
		n += b.Size()
	}
	return n
}

// matrix returns weight node n as stored, uploading it on first use.
func (w *Weights) matrix(n *compute.Node) (*ops.Weight, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := w.matrices[n.Name]; m != nil {
		return m, nil
	}
	m, err := w.K.Upload(n.Name, n.Type, n.Shape.Rows, n.Shape.Cols, n.Weight)
	if err != nil {
		return nil, err
	}
	w.matrices[n.Name] = m
	return m, nil
}

// experts uploads each matrix of the expert stack n of experts matrices
// (compute.ExpertSlice) as a weight of its own: the executor binds an
// expert's rows, which may not start at a chunk of the whole stack.
func (w *Weights) experts(n *compute.Node, experts int) error {
	for e := range experts {
		if _, err := w.matrix(compute.ExpertSlice(n, e, experts)); err != nil {
			return err
		}
	}
	return nil
}

// vector returns weight node n dequantized to f32, uploading it on first
// use.
func (w *Weights) vector(n *compute.Node) (*vk.Buffer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.vectors[n.Name]; b != nil {
		return b, nil
	}
	v := make([]float32, n.Shape.Elems())
	if err := quant.Dequantize(n.Type, n.Weight, v); err != nil {
		return nil, fmt.Errorf("vulkan: tensor %q: %w", n.Name, err)
	}
	b, err := w.K.Floats(v)
	if err != nil {
		return nil, fmt.Errorf("vulkan: tensor %q: %w", n.Name, err)
	}
	w.vectors[n.Name] = b
	return b, nil
}

// constant returns n floats of value v: the weight of a norm the model
// has none for (ones) or the bias it lacks (zeros), which the shaders
// always read.
func (w *Weights) constant(v float32, n int) (*vk.Buffer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := constKey{v, n}
	if b := w.consts[key]; b != nil {
		return b, nil
	}
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = v
	}
	b, err := w.K.Floats(vals)
	if err != nil {
		return nil, err
	}
	w.consts[key] = b
	return b, nil
}

// ropeFreqs returns r's frequencies as the f32 table the rope shader
// reads (the angle is position × frequency in f32).
func (w *Weights) ropeFreqs(r *compute.Rope) (*vk.Buffer, error) {
	raw := make([]byte, 4*len(r.Freqs))
	for i, f := range r.Freqs {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.freqs[string(raw)]; b != nil {
		return b, nil
	}
	b, err := w.K.Dev.NewBuffer(uint64(len(raw)), vk.DeviceLocal)
	if err == nil {
		if err = b.Write(0, raw); err != nil {
			b.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	w.freqs[string(raw)] = b
	return b, nil
}

// The shaders of this package's own ops (vk/ops has no binding for
// them): bindings and push-constant words.
var ownShaders = map[string]struct{ bindings, push int }{
	"binary":   {3, 4},
	"view":     {2, 4},
	"soft_cap": {2, 2},
	"moe":      {3, 8},
}

// pipeline returns the pipeline of one of ownShaders, built on first use.
func (w *Weights) pipeline(name string) (*vk.Pipeline, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.pipes[name]; p != nil {
		return p, nil
	}
	l := ownShaders[name]
	code, err := shaders.SPIRV(name, w.K.Subgroups)
	if err != nil {
		return nil, err
	}
	p, err := w.K.Dev.NewPipeline(name, code, l.bindings, uint32(4*l.push))
	if err != nil {
		return nil, err
	}
	w.pipes[name] = p
	return p, nil
}

// Upload puts every tensor g reads on the device now, as the executor
// binds them, rather than at g's first step: a caller learns of a type
// without a shader, or of the device's memory, before running anything,
// and on a device without mapped memory the first step then costs one
// submit like the others instead of also the uploads' staging submits.
func (w *Weights) Upload(g *compute.Graph) error {
	for i := range g.Nodes {
		n := &g.Nodes[i]
		for j, t := range n.Src {
			if !t.Valid() || g.Node(t).Kind != compute.KindWeight {
				continue
			}
			var err error
			switch {
			case j == 0 && (n.Op == compute.OpGetRows || n.Op == compute.OpMatMul):
				_, err = w.matrix(g.Node(t))
			case n.Op == compute.OpMoE: // the expert stacks, one matrix per expert as the executor binds them
				err = w.experts(g.Node(t), n.Params.MoE.Experts)
			default:
				_, err = w.vector(g.Node(t))
			}
			if err != nil {
				return err
			}
		}
		var err error
		switch {
		case n.Op == compute.OpRope:
			_, err = w.ropeFreqs(n.Params.Rope)
		case n.Op == compute.OpRMSNorm && !n.Src[1].Valid():
			_, err = w.constant(1, normGroup(n))
		case n.Op == compute.OpLayerNorm && !n.Src[1].Valid():
			_, err = w.constant(1, n.Shape.Cols)
		}
		if err == nil && n.Op == compute.OpLayerNorm && !n.Src[2].Valid() {
			_, err = w.constant(0, n.Shape.Cols)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// normGroup returns the columns an rms_norm node normalises together.
func normGroup(n *compute.Node) int {
	if n.Params.Group > 0 {
		return n.Params.Group
	}
	return n.Shape.Cols
}
