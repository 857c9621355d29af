// Package phi3 runs Microsoft's Phi-3 models as a graph of compute ops: a
// llama-shaped decoder with fused q/k/v and gate/up projections, NeoX
// rope over rope.dimension_count dimensions, sliding-window attention and
// an untied output.
package phi3

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Arch is the general.architecture value this package runs.
const Arch = "phi3"

// knownKeys are the metadata keys under "phi3." that this package reads
// or that leave the math alone; any other (longrope's attention factor, a
// soft-cap) is refused at load, by name.
var knownKeys = []string{
	"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
	"attention.sliding_window", "rope.dimension_count", "rope.freq_base",
	"rope.scaling.type", "vocab_size",
}

// Config holds a model's hyper-parameters.
type Config struct {
	model.DecoderParams
	// Window, when > 0, is how many positions (its own included) a token
	// attends to.
	Window int
}

// Model is a loaded Phi-3 model; File must stay open while it is used.
type Model struct {
	Config Config
	model.DecoderModel
}

// Load reads the configuration and checks every tensor of f, refusing
// metadata keys, rope scalings (longrope) and tensors (its
// rope_factors_long/short) this package does not implement.
func Load(f *gguf.File) (*Model, error) {
	if err := model.CheckKeys(f, Arch, knownKeys); err != nil {
		return nil, fmt.Errorf("phi3: %w", err)
	}
	key := Arch + ".rope.scaling.type"
	if typ, err := f.String(key); err == nil && typ != "none" {
		return nil, fmt.Errorf("phi3: %w: %s = %q (implemented: none)", model.ErrUnsupported, key, typ)
	} else if err != nil && !errors.Is(err, gguf.ErrNotFound) {
		return nil, fmt.Errorf("phi3: %w", err)
	}
	m := &model.Meta{F: f, Arch: Arch}
	c := Config{DecoderParams: m.Decoder(false, 1e-5), Window: m.Int("attention.sliding_window", 0)}
	if m.Err == nil {
		m.Tensor("token_embd.weight", c.Dim, c.Vocab)
		m.Tensor("output_norm.weight", c.Dim)
		m.Tensor("output.weight", c.Dim, c.Vocab)
		for l := range c.Layers {
			name := func(s string) string { return fmt.Sprintf("blk.%d.%s", l, s) }
			m.Tensor(name("attn_norm.weight"), c.Dim)
			m.Tensor(name("attn_qkv.weight"), c.Dim, c.Dim+2*c.KVDim())
			m.Tensor(name("attn_output.weight"), c.Dim, c.Dim)
			m.Tensor(name("ffn_norm.weight"), c.Dim)
			m.Tensor(name("ffn_up.weight"), c.Dim, 2*c.FFN)
			m.Tensor(name("ffn_down.weight"), c.FFN, c.Dim)
		}
	}
	if err := m.Unread(); err != nil {
		return nil, fmt.Errorf("phi3: %w", err)
	}
	// Its memory need is counted as llama's: f32 activations per batch token
	// (residual, norm, fused q/k/v, attention output and projection, the
	// fused gate/up and its product).
	return &Model{Config: c, DecoderModel: c.Model(f, 5*c.Dim+2*c.KVDim()+3*c.FFN)}, nil
}

func init() {
	model.Register(model.Arch{
		Names:        []string{Arch},
		Capabilities: []model.Capability{model.Generate},
		Load:         func(f *gguf.File) (model.Loaded, error) { return Load(f) },
	})
}
