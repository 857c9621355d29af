// Package nomicbert runs nomic-bert embedding models (nomic-embed-text)
// as a graph of compute ops: a post-LayerNorm BERT encoder with fused
// q/k/v, NeoX rope in place of learned positions and a SwiGLU
// feed-forward, whose final hidden states are pooled into one vector.
package nomicbert

import (
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Arch is the general.architecture value this package runs.
const Arch = "nomic-bert"

// knownKeys are the metadata keys under "nomic-bert." that this package
// reads or that leave the math alone; any other is refused at load, by
// name.
var knownKeys = []string{
	"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.layer_norm_epsilon",
	"attention.causal", "rope.freq_base", "pooling_type", "vocab_size",
}

// Config holds a model's hyper-parameters.
type Config struct {
	Vocab, Dim, Layers, FFN, ContextLength int
	Heads, HeadDim, TokenTypes             int
	NormEps, RopeBase                      float32
	Causal                                 bool // attention.causal, false when absent
	// Pooling is how EmbedTexts reduces the hidden states: mean (also
	// for none, as llama's embeddings do), first or last token.
	Pooling model.Pooling
}

// Model is a loaded nomic-bert model; File must stay open while it is
// used.
type Model struct {
	Config Config
	File   *gguf.File
}

// Load reads the configuration and checks every tensor of f, refusing
// metadata keys and tensors this package does not implement.
func Load(f *gguf.File) (*Model, error) {
	if err := model.CheckKeys(f, Arch, knownKeys); err != nil {
		return nil, fmt.Errorf("nomic-bert: %w", err)
	}
	m := &model.Meta{F: f, Arch: Arch}
	c := Config{
		Dim: m.Int("embedding_length", -1), Layers: m.Int("block_count", -1),
		FFN: m.Int("feed_forward_length", -1), ContextLength: m.Int("context_length", -1),
		Heads: m.Int("attention.head_count", -1), Causal: m.Bool("attention.causal", false),
		NormEps: m.Float("attention.layer_norm_epsilon", 1e-12), RopeBase: m.Float("rope.freq_base", 1000),
		Pooling: model.Pooling(m.Int("pooling_type", int(model.PoolingMean))),
	}
	kvHeads := m.Int("attention.head_count_kv", c.Heads)
	for name, dst := range map[string]*int{"token_embd.weight": &c.Vocab, "token_types.weight": &c.TokenTypes} {
		if t, err := f.Tensor(name); err == nil && len(t.Dims) == 2 {
			*dst = int(t.Dims[1])
		}
	}
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	switch {
	case m.Err != nil:
	case c.Dim <= 0 || c.Layers <= 0 || c.FFN <= 0 || c.Vocab <= 0 || c.ContextLength <= 0 || c.TokenTypes <= 0:
		m.Err = fmt.Errorf("%w: embedding %d, blocks %d, ffn %d, vocabulary %d, context %d and token types %d must be > 0", model.ErrShape, c.Dim, c.Layers, c.FFN, c.Vocab, c.ContextLength, c.TokenTypes)
	case c.Heads <= 0 || c.Dim%c.Heads != 0 || c.HeadDim%2 != 0 || kvHeads != c.Heads:
		m.Err = fmt.Errorf("%w: %d heads (%d kv heads) in an embedding of %d", model.ErrShape, c.Heads, kvHeads, c.Dim)
	case c.Pooling < model.PoolingNone || c.Pooling > model.PoolingLast:
		m.Err = fmt.Errorf("%w: pooling type %d is not none (0), mean (1), cls (2) or last (3)", model.ErrUnsupported, c.Pooling)
	}
	if m.Err == nil {
		m.Tensor("token_embd.weight", c.Dim, c.Vocab)
		m.Tensor("token_types.weight", c.Dim, c.TokenTypes)
		m.Tensor("token_embd_norm.weight", c.Dim)
		m.Tensor("token_embd_norm.bias", c.Dim)
		for l := range c.Layers {
			name := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
			m.Tensor(name("attn_qkv.weight"), c.Dim, 3*c.Dim)
			m.Tensor(name("attn_output.weight"), c.Dim, c.Dim)
			m.Tensor(name("ffn_gate.weight"), c.Dim, c.FFN)
			m.Tensor(name("ffn_up.weight"), c.Dim, c.FFN)
			m.Tensor(name("ffn_down.weight"), c.FFN, c.Dim)
			for _, norm := range []string{"attn_output_norm", "layer_output_norm"} {
				m.Tensor(name(norm+".weight"), c.Dim)
				m.Tensor(name(norm+".bias"), c.Dim)
			}
		}
	}
	if err := m.Unread(); err != nil {
		return nil, fmt.Errorf("nomic-bert: %w", err)
	}
	return &Model{Config: c, File: f}, nil
}

func init() {
	model.Register(model.Arch{
		Names:        []string{Arch},
		Capabilities: []model.Capability{model.Embed},
		Load:         func(f *gguf.File) (model.Loaded, error) { return Load(f) },
	})
}

// Vocab implements model.Loaded.
func (m *Model) Vocab() int { return m.Config.Vocab }

// ContextLength implements model.Loaded.
func (m *Model) ContextLength() int { return m.Config.ContextLength }

// Memory implements model.Loaded: an encoder keeps no cache between
// requests (its f32 keys and values of a pass are counted with the
// scratch); a pass of up to batch tokens holds a few rows of the widest
// layer per token (residual, fused q/k/v, attention output, the FFN's
// gate, up and product), plus attention scores per head.
func (m *Model) Memory(_, batch, _ int) model.Memory {
	c := m.Config
	return model.Memory{
		Weights: model.TensorBytes(m.File),
		Scratch: 4 * uint64(batch) * uint64(8*c.Dim+3*c.FFN+c.Heads*c.ContextLength),
	}
}
