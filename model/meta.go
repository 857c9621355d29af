package model

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// Meta reads an architecture's "{arch}.*" hyper-parameters and checks its
// tensors, keeping the first error, so that a config reader and a loader
// are one line per key or tensor and one error check at the end.
type Meta struct {
	F    *gguf.File
	Arch string
	Err  error // the first error
	read map[string]bool
}

func (m *Meta) fail(err error) {
	if m.Err == nil {
		m.Err = err
	}
}

// Int returns {arch}.key, or def when the key is absent and def >= 0 (a
// negative def makes the key required).
func (m *Meta) Int(key string, def int) int {
	v, err := m.F.Uint(m.Arch + "." + key)
	switch {
	case errors.Is(err, gguf.ErrNotFound) && def >= 0:
		return def
	case err != nil:
		m.fail(err)
		return 0
	case v > 1<<31:
		m.fail(fmt.Errorf("%w: %s.%s = %d is out of range", ErrShape, m.Arch, key, v))
		return 0
	}
	return int(v)
}

// Float returns {arch}.key, or def when the key is absent.
func (m *Meta) Float(key string, def float64) float32 {
	v, err := m.F.Float(m.Arch + "." + key)
	if errors.Is(err, gguf.ErrNotFound) {
		return float32(def)
	}
	if err != nil {
		m.fail(err)
	}
	return float32(v)
}

// Bool returns {arch}.key, or def when the key is absent.
func (m *Meta) Bool(key string, def bool) bool {
	v, err := m.F.Bool(m.Arch + "." + key)
	if errors.Is(err, gguf.ErrNotFound) {
		return def
	}
	if err != nil {
		m.fail(err)
	}
	return v
}

// Tensor checks that the file holds tensor name with dims and records it
// as read, for Unread.
func (m *Meta) Tensor(name string, dims ...int) {
	if m.read == nil {
		m.read = map[string]bool{}
	}
	m.read[name] = true
	if _, err := LoadTensor(m.F, name, dims...); err != nil {
		m.fail(err)
	}
}

// Unread returns the first error, else CheckTensors' refusal of a tensor
// that Tensor did not read.
func (m *Meta) Unread() error {
	if m.Err != nil {
		return m.Err
	}
	return CheckTensors(m.F, m.Arch, m.read)
}

// DecoderParams are the hyper-parameters every decoder reads under
// "{arch}.", with the vocabulary from token_embd's rows.
type DecoderParams struct {
	Vocab, Dim, Layers, FFN, ContextLength int
	Heads, KVHeads, HeadDim, RopeDim       int
	NormEps, RopeBase                      float32
}

// QDim is the width of the query projection (all heads).
func (p DecoderParams) QDim() int { return p.Heads * p.HeadDim }

// KVDim is the width of the key and value projections.
func (p DecoderParams) KVDim() int { return p.KVHeads * p.HeadDim }

// Model is the DecoderModel of f with these parameters, whose scratch
// holds activations f32 values per batch token.
func (p DecoderParams) Model(f *gguf.File, activations int) DecoderModel {
	return DecoderModel{File: f, Context: p.ContextLength, Shape: Decoder{
		Layers: p.Layers, Heads: p.Heads, KVWidth: p.KVDim(), Vocab: p.Vocab, Activations: activations}}
}

// Decoder reads a decoder's hyper-parameters: the head dimension from
// attention.key_length (required when keyLength, else embedding/heads),
// the norm epsilon defaulting to eps, and checks them (Err holds the
// first error).
func (m *Meta) Decoder(keyLength bool, eps float64) DecoderParams {
	p := DecoderParams{
		Dim: m.Int("embedding_length", -1), Layers: m.Int("block_count", -1),
		FFN: m.Int("feed_forward_length", -1), ContextLength: m.Int("context_length", -1),
		Heads:   m.Int("attention.head_count", -1),
		NormEps: m.Float("attention.layer_norm_rms_epsilon", eps), RopeBase: m.Float("rope.freq_base", 10000),
	}
	p.KVHeads = m.Int("attention.head_count_kv", p.Heads)
	switch {
	case keyLength:
		p.HeadDim = m.Int("attention.key_length", -1)
	case p.Heads > 0:
		p.HeadDim = p.Dim / p.Heads
	}
	p.RopeDim = m.Int("rope.dimension_count", p.HeadDim)
	if t, err := m.F.Tensor("token_embd.weight"); err == nil && len(t.Dims) == 2 {
		p.Vocab = int(t.Dims[1])
	}
	switch {
	case m.Err != nil:
	case p.Dim <= 0 || p.Layers <= 0 || p.FFN <= 0 || p.Vocab <= 0 || p.ContextLength <= 0:
		m.fail(fmt.Errorf("%w: embedding %d, blocks %d, ffn %d, vocabulary %d and context %d must be > 0", ErrShape, p.Dim, p.Layers, p.FFN, p.Vocab, p.ContextLength))
	case p.Heads <= 0 || p.KVHeads <= 0 || p.Heads%p.KVHeads != 0 || p.HeadDim <= 0 || p.HeadDim%2 != 0 || !keyLength && p.Dim%p.Heads != 0:
		m.fail(fmt.Errorf("%w: %d heads over %d kv heads of dimension %d in an embedding of %d", ErrShape, p.Heads, p.KVHeads, p.HeadDim, p.Dim))
	case p.RopeDim <= 0 || p.RopeDim > p.HeadDim || p.RopeDim%2 != 0:
		m.fail(fmt.Errorf("%w: rope dimension %d within a head of %d", ErrShape, p.RopeDim, p.HeadDim))
	}
	return p
}
