package bert

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Layer holds the weights of one encoder block. Matrices have Dims
// {in, out}: one row of `in` elements per output.
type Layer struct {
	AttnQ, AttnQBias       Tensor // blk.N.attn_q
	AttnK, AttnKBias       Tensor // blk.N.attn_k
	AttnV, AttnVBias       Tensor // blk.N.attn_v
	AttnOut, AttnOutBias   Tensor // blk.N.attn_output
	AttnNorm, AttnNormBias Tensor // blk.N.attn_output_norm (after the attention residual)
	FFNUp, FFNUpBias       Tensor // blk.N.ffn_up
	FFNDown, FFNDownBias   Tensor // blk.N.ffn_down
	OutNorm, OutNormBias   Tensor // blk.N.layer_output_norm (after the FFN residual)
}

// Model is a loaded BERT encoder: its configuration and its weights,
// checked against it. The tensors are views into the GGUF file given to
// Load, which must stay open while the model is used. A Model is safe for
// concurrent use; the encoders that run its graph are not.
type Model struct {
	Config Config
	// File is the model's GGUF file, whose tensors Build names.
	File *gguf.File

	TokenEmbd    Tensor // token_embd {Embd, Vocab}
	PosEmbd      Tensor // position_embd {Embd, ContextLength}
	TokenTypes   Tensor // token_types {Embd, TokenTypes}; Name is empty when the file has none
	EmbdNorm     Tensor // token_embd_norm.weight
	EmbdNormBias Tensor // token_embd_norm.bias
	Layers       []Layer
}

// Load builds the encoder from f, checking every tensor's shape against
// the metadata. It returns ErrUnsupported for another architecture, rank
// pooling or a tensor type package quant cannot dequantize, and ErrModel
// for missing or inconsistent metadata or tensors.
func Load(f *gguf.File) (*Model, error) {
	c, err := ReadConfig(f)
	if err != nil {
		return nil, err
	}
	m := &Model{File: f}
	e, ff := c.Embd, c.FFN

	info, err := f.Tensor("token_embd.weight")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if len(info.Dims) != 2 || info.Dims[1] == 0 || info.Dims[1] > 1<<26 {
		return nil, fmt.Errorf("%w: tensor %q has shape %v, want {%d, vocab}", ErrModel, info.Name, info.Dims, e)
	}
	c.Vocab = int(info.Dims[1])
	if toks, err := gguf.ArrayOf[string](f, "tokenizer.ggml.tokens"); err == nil && len(toks) != c.Vocab {
		return nil, fmt.Errorf("%w: token_embd has %d rows but the vocabulary has %d tokens", ErrModel, c.Vocab, len(toks))
	}
	if c.SepID >= int32(c.Vocab) {
		return nil, fmt.Errorf("%w: separator token %d outside the vocabulary of %d", ErrModel, c.SepID, c.Vocab)
	}

	read := map[string]bool{}
	load := func(dst *Tensor, name string, want ...int) {
		if err != nil {
			return
		}
		read[name] = true
		*dst, err = loadTensor(f, name, want...)
	}
	load(&m.TokenEmbd, "token_embd.weight", e, c.Vocab)
	load(&m.PosEmbd, "position_embd.weight", e, c.ContextLength)
	load(&m.EmbdNorm, "token_embd_norm.weight", e)
	load(&m.EmbdNormBias, "token_embd_norm.bias", e)
	if err != nil {
		return nil, err
	}
	if info, terr := f.Tensor("token_types.weight"); terr == nil {
		if len(info.Dims) < 2 || info.Dims[1] == 0 || info.Dims[1] > 1<<16 {
			return nil, fmt.Errorf("%w: tensor %q has shape %v, want {%d, types}", ErrModel, info.Name, info.Dims, e)
		}
		c.TokenTypes = int(info.Dims[1])
		load(&m.TokenTypes, "token_types.weight", e, c.TokenTypes)
	} else if !errors.Is(terr, gguf.ErrNotFound) {
		return nil, fmt.Errorf("bert: %w", terr)
	}

	// Each block has 16 tensors; checking the count first keeps a corrupt
	// block_count from allocating before the missing tensors are noticed.
	if c.Blocks > len(f.Tensors)/16 {
		return nil, fmt.Errorf("%w: block_count %d needs %d block tensors, the file has %d tensors in all", ErrModel, c.Blocks, 16*c.Blocks, len(f.Tensors))
	}
	m.Layers = make([]Layer, c.Blocks)
	for i := range m.Layers {
		l := &m.Layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		load(&l.AttnQ, p+"attn_q.weight", e, e)
		load(&l.AttnQBias, p+"attn_q.bias", e)
		load(&l.AttnK, p+"attn_k.weight", e, e)
		load(&l.AttnKBias, p+"attn_k.bias", e)
		load(&l.AttnV, p+"attn_v.weight", e, e)
		load(&l.AttnVBias, p+"attn_v.bias", e)
		load(&l.AttnOut, p+"attn_output.weight", e, e)
		load(&l.AttnOutBias, p+"attn_output.bias", e)
		load(&l.AttnNorm, p+"attn_output_norm.weight", e)
		load(&l.AttnNormBias, p+"attn_output_norm.bias", e)
		load(&l.FFNUp, p+"ffn_up.weight", e, ff)
		load(&l.FFNUpBias, p+"ffn_up.bias", ff)
		load(&l.FFNDown, p+"ffn_down.weight", ff, e)
		load(&l.FFNDownBias, p+"ffn_down.bias", e)
		load(&l.OutNorm, p+"layer_output_norm.weight", e)
		load(&l.OutNormBias, p+"layer_output_norm.bias", e)
	}
	if err != nil {
		return nil, err
	}
	if err := model.CheckTensors(f, Arch, read); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	m.Config = c
	return m, nil
}

// WithPooling returns a model that shares m's weights but pools with p,
// as llama.cpp's --pooling does.
func (m *Model) WithPooling(p PoolingType) (*Model, error) {
	if err := p.valid(); err != nil {
		return nil, err
	}
	c := *m
	c.Config.Pooling = p
	return &c, nil
}

// MaxTokens returns the longest input the model takes, in tokens.
func (m *Model) MaxTokens() int { return m.Config.ContextLength }

// Tensors returns every weight of the model, embeddings first and then
// block by block: what Load checked and Build names. The token-type table
// is left out when the file has none.
func (m *Model) Tensors() []*Tensor {
	ts := []*Tensor{&m.TokenEmbd, &m.PosEmbd}
	if m.TokenTypes.Name != "" {
		ts = append(ts, &m.TokenTypes)
	}
	ts = append(ts, &m.EmbdNorm, &m.EmbdNormBias)
	for i := range m.Layers {
		l := &m.Layers[i]
		ts = append(ts,
			&l.AttnQ, &l.AttnQBias, &l.AttnK, &l.AttnKBias, &l.AttnV, &l.AttnVBias,
			&l.AttnOut, &l.AttnOutBias, &l.AttnNorm, &l.AttnNormBias,
			&l.FFNUp, &l.FFNUpBias, &l.FFNDown, &l.FFNDownBias, &l.OutNorm, &l.OutNormBias)
	}
	return ts
}
