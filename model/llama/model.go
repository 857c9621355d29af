package llama

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Layer holds one transformer block's weights. Matrices have Dims
// {in, out}: each of the out rows holds in elements. Bq, Bk, Bv (qwen2)
// and QNorm, KNorm (qwen3) are zero Tensors when the model lacks them. A
// model with experts has Router and the expert stacks (Dims {in, out,
// experts}) in place of Gate, Up and Down.
type Layer struct {
	AttnNorm     model.Tensor
	Wq, Wk, Wv   model.Tensor
	Bq, Bk, Bv   model.Tensor
	QNorm, KNorm model.Tensor
	Wo           model.Tensor
	FFNNorm      model.Tensor
	Gate, Up     model.Tensor
	Down         model.Tensor
	Router       model.Tensor
	GateExps     model.Tensor
	UpExps       model.Tensor
	DownExps     model.Tensor
}

// Model is a loaded llama-family model. Its tensors are views into the
// GGUF mapping: the file must stay open while the model is used.
type Model struct {
	Config Config
	// File is the model's GGUF file, whose tensors Build names.
	File       *gguf.File
	TokenEmbd  model.Tensor
	OutputNorm model.Tensor
	// Output is the output projection; it is TokenEmbd itself when the
	// model ties its embeddings.
	Output     model.Tensor
	TiedOutput bool
	// RopeFreqs (Llama 3.1 and later) holds a divisor per rotated pair of
	// dimensions for the rotation frequencies; a zero Tensor when absent.
	RopeFreqs model.Tensor
	Layers    []Layer
}

// Load reads the configuration and checks every weight of f.
func Load(f *gguf.File) (*Model, error) {
	c, err := ReadConfig(f)
	if err != nil {
		return nil, err
	}
	if uint64(c.Layers) > uint64(len(f.Tensors)) {
		return nil, fmt.Errorf("llama: %d blocks but only %d tensors: %w", c.Layers, len(f.Tensors), model.ErrShape)
	}
	m := &Model{Config: c, File: f, Layers: make([]Layer, c.Layers)}
	var firstErr error
	read := map[string]bool{}
	load := func(dst *model.Tensor, optional bool, name string, dims ...int) {
		if firstErr != nil {
			return
		}
		read[name] = true
		var t model.Tensor
		var err error
		if optional {
			t, err = model.LoadOptionalTensor(f, name, dims...)
		} else {
			t, err = model.LoadTensor(f, name, dims...)
		}
		if err != nil {
			firstErr = fmt.Errorf("llama: %w", err)
		}
		*dst = t
	}
	load(&m.TokenEmbd, false, "token_embd.weight", c.Dim, c.VocabSize)
	load(&m.OutputNorm, false, "output_norm.weight", c.Dim)
	load(&m.Output, true, "output.weight", c.Dim, c.VocabSize)
	load(&m.RopeFreqs, true, "rope_freqs.weight", c.RopeDim/2)
	for i := range m.Layers {
		L := &m.Layers[i]
		name := func(s string) string { return fmt.Sprintf("blk.%d.%s", i, s) }
		load(&L.AttnNorm, false, name("attn_norm.weight"), c.Dim)
		load(&L.Wq, false, name("attn_q.weight"), c.Dim, c.QDim())
		load(&L.Wk, false, name("attn_k.weight"), c.Dim, c.KVDim())
		load(&L.Wv, false, name("attn_v.weight"), c.Dim, c.KVDim())
		load(&L.Bq, true, name("attn_q.bias"), c.QDim())
		load(&L.Bk, true, name("attn_k.bias"), c.KVDim())
		load(&L.Bv, true, name("attn_v.bias"), c.KVDim())
		load(&L.QNorm, true, name("attn_q_norm.weight"), c.HeadDim)
		load(&L.KNorm, true, name("attn_k_norm.weight"), c.HeadDim)
		load(&L.Wo, false, name("attn_output.weight"), c.QDim(), c.Dim)
		load(&L.FFNNorm, false, name("ffn_norm.weight"), c.Dim)
		if c.Experts > 0 {
			load(&L.Router, false, name("ffn_gate_inp.weight"), c.Dim, c.Experts)
			load(&L.GateExps, false, name("ffn_gate_exps.weight"), c.Dim, c.FFN, c.Experts)
			load(&L.UpExps, false, name("ffn_up_exps.weight"), c.Dim, c.FFN, c.Experts)
			load(&L.DownExps, false, name("ffn_down_exps.weight"), c.FFN, c.Dim, c.Experts)
			continue
		}
		load(&L.Gate, false, name("ffn_gate.weight"), c.Dim, c.FFN)
		load(&L.Up, false, name("ffn_up.weight"), c.Dim, c.FFN)
		load(&L.Down, false, name("ffn_down.weight"), c.FFN, c.Dim)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := model.CheckTensors(f, c.Arch, read); err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	if !m.Output.Present() {
		m.Output, m.TiedOutput = m.TokenEmbd, true
	}
	return m, nil
}

// WeightBytes returns the bytes of all weights as stored.
func (m *Model) WeightBytes() int64 {
	n := int64(len(m.TokenEmbd.Data) + len(m.OutputNorm.Data) + len(m.RopeFreqs.Data))
	if !m.TiedOutput {
		n += int64(len(m.Output.Data))
	}
	for _, L := range m.Layers {
		for _, t := range []*model.Tensor{&L.AttnNorm, &L.Wq, &L.Wk, &L.Wv, &L.Bq, &L.Bk, &L.Bv, &L.QNorm, &L.KNorm, &L.Wo, &L.FFNNorm, &L.Gate, &L.Up, &L.Down,
			&L.Router, &L.GateExps, &L.UpExps, &L.DownExps} {
			n += int64(len(t.Data))
		}
	}
	return n
}

// RopeFrequencies returns the rotation frequency of each rotated pair i of
// a head's dimensions, in radians per position:
// RopeScale·RopeBase^(-2i/RopeDim), divided by the pair's factor in
// RopeFreqs where the model has one (as llama.cpp applies them).
func (m *Model) RopeFrequencies() ([]float64, error) {
	c := m.Config
	freq := compute.RopeFreqs(float64(c.RopeBase), c.RopeDim, float64(c.RopeScale))
	var factors []float32
	if m.RopeFreqs.Present() {
		var err error
		if factors, err = m.RopeFreqs.Float32(); err != nil {
			return nil, fmt.Errorf("llama: %w", err)
		}
	}
	for i, f := range factors {
		if !(f > 0) {
			return nil, fmt.Errorf("llama: %w: rope_freqs.weight[%d] = %v is not a positive divisor", model.ErrShape, i, f)
		}
		freq[i] /= float64(f)
	}
	return freq, nil
}
