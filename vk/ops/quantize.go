package ops

import (
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/quant"
	"github.com/vkinfer/vkinfer/vk"
)

// Rounding is how a matrix product's input is rounded before it meets the
// weights. llama.cpp's CPU backend quantizes activations for products with
// quantized weights, and package kernels follows it; the shaders do the
// same in a pass of their own (quantize.comp), so that device, CPU and
// llama.cpp agree to float32 noise rather than to the activations'
// quantization error.
type Rounding uint32

const (
	// RoundNone leaves the input in f32: F32 and F16 weights, and Q4_1
	// and Q5_1, which package kernels multiplies in floating point.
	RoundNone Rounding = iota
	// RoundQ8_0 is ggml's Q8_0 with f16 scales (Q4_0, Q5_0, Q8_0, IQ4_NL
	// weights).
	RoundQ8_0
	// RoundQ8_K is ggml's Q8_K (Q4_K, Q5_K, Q6_K, IQ4_XS weights).
	RoundQ8_K
	// RoundBF16 rounds to bf16 (BF16 weights).
	RoundBF16
	roundings
)

// RoundingFor returns the rounding of the input of a product with weights
// of type t: its activations in quant's traits table.
func RoundingFor(t gguf.Type) Rounding {
	tr, _ := quant.TraitsOf(t)
	switch tr.Activations {
	case quant.ActQ8_0:
		return RoundQ8_0
	case quant.ActQ8_K:
		return RoundQ8_K
	case quant.ActBF16:
		return RoundBF16
	}
	return RoundNone
}

// block is how many values share a scale (one invocation's work).
func (r Rounding) block() int {
	switch r {
	case RoundQ8_0:
		return 32
	case RoundQ8_K:
		return 256
	}
	return 1
}

// Quantize writes activations rounded as a Rounding says to a second
// buffer, each value as the float it stands for (q·d).
type Quantize struct {
	k    *Kernels
	p    *vk.Pipeline
	set  vk.Set
	push [4]uint32
}

// BindQuantize binds input x and output out.
func (k *Kernels) BindQuantize(sets *vk.Sets, x, out vk.Range) (*Quantize, error) {
	p, err := k.pipeline("quantize", gguf.TypeF32)
	if err != nil {
		return nil, err
	}
	set, err := sets.Bind(p, x, out)
	if err != nil {
		return nil, fmt.Errorf("ops: quantize: %w", err)
	}
	return &Quantize{k: k, p: p, set: set}, nil
}

// Record rounds n inputs of cols values (a multiple of r's block of 32 or
// 256 values for Q8_0 and Q8_K), stride elements apart in x and out alike.
func (q *Quantize) Record(s *vk.Step, r Rounding, n, cols, stride int) {
	q.push = [4]uint32{uint32(cols), uint32(n), uint32(stride), uint32(r)}
	gx, gy := q.k.groups(uint32(n*cols/r.block()+63) / 64)
	s.Dispatch(q.p, q.set, q.push[:], gx, gy, 1)
}

// Inputs gives matrix products their inputs rounded as RoundingFor says.
// Each activation buffer feeding products is an Input; its rounded copies
// go to scratch buffers, one per rounding, that every Input of an Inputs
// shares: an Input's products must be done (a barrier) before the next
// Input records its roundings.
type Inputs struct {
	k       *Kernels
	sets    *vk.Sets
	floats  int
	scratch [roundings]*vk.Buffer
}

// NewInputs returns Inputs whose scratch holds floats values per rounding
// (the largest n*stride recorded), allocated on first use.
func (k *Kernels) NewInputs(sets *vk.Sets, floats int) *Inputs {
	return &Inputs{k: k, sets: sets, floats: floats}
}

// Close frees the scratch buffers.
func (in *Inputs) Close() {
	for i, b := range in.scratch {
		if b != nil {
			b.Close()
			in.scratch[i] = nil
		}
	}
}

// Input is an activation buffer feeding matrix products of one width.
type Input struct {
	in   *Inputs
	x    vk.Range
	cols int
	ops  [roundings]*Quantize // bound for the roundings its products need
}

// Input returns the Input of activations x.
func (in *Inputs) Input(x vk.Range) *Input {
	return &Input{in: in, x: x}
}

// BindMatVec binds the product of w with this input, rounded as w's type
// needs, to output y and bias (see Kernels.BindMatVec).
func (x *Input) BindMatVec(w *Weight, y, bias vk.Range) (*MatVec, error) {
	src, err := x.source(w)
	if err != nil {
		return nil, err
	}
	return x.in.k.BindMatVec(x.in.sets, w, src, y, bias)
}

// source returns what a product with w reads: x itself, or its copy
// rounded for w's type.
func (x *Input) source(w *Weight) (vk.Range, error) {
	if x.cols != 0 && x.cols != w.Cols {
		return vk.Range{}, fmt.Errorf("ops: %q takes %d inputs, its input's other products %d", w.Name, w.Cols, x.cols)
	}
	x.cols = w.Cols
	r := RoundingFor(w.Type)
	if r == RoundNone {
		return x.x, nil
	}
	in := x.in
	if in.scratch[r] == nil {
		b, err := in.k.Dev.NewBuffer(uint64(4*in.floats), vk.DeviceLocal)
		if err != nil {
			return vk.Range{}, fmt.Errorf("ops: rounded inputs: %w", err)
		}
		in.scratch[r] = b
	}
	if x.ops[r] == nil {
		q, err := in.k.BindQuantize(in.sets, x.x, in.scratch[r].All())
		if err != nil {
			return vk.Range{}, err
		}
		x.ops[r] = q
	}
	return in.scratch[r].All(), nil
}

// Record rounds the first n inputs (stride elements apart) for every
// product bound to x, with a barrier after when there was any to round.
func (x *Input) Record(s *vk.Step, n, stride int) {
	recorded := false
	for r, q := range x.ops {
		if q != nil {
			q.Record(s, Rounding(r), n, x.cols, stride)
			recorded = true
		}
	}
	if recorded {
		s.Barrier()
	}
}
