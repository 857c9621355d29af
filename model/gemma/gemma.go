// Package gemma runs Google's Gemma (first generation) models as a graph
// of compute ops: a llama-shaped decoder with embeddings scaled by
// √n_embd, a GELU-gated feed-forward, NeoX rope, a head dimension of its
// own (attention.key_length) and the output tied to the embeddings.
package gemma

import (
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Arch is the general.architecture value this package runs.
const Arch = "gemma"

// knownKeys are the metadata keys under "gemma." that this package reads
// or that leave the math alone; any other (rope scaling, a soft-cap, a
// sliding window) is refused at load, by name.
var knownKeys = []string{
	"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.key_length",
	"attention.value_length", "attention.layer_norm_rms_epsilon",
	"rope.dimension_count", "rope.freq_base", "vocab_size",
}

// Config holds a model's hyper-parameters.
type Config struct {
	model.DecoderParams
}

// Model is a loaded Gemma model; File must stay open while it is used.
type Model struct {
	Config Config
	model.DecoderModel
}

// Load reads the configuration and checks every tensor of f, refusing
// metadata keys and tensors this package does not implement.
func Load(f *gguf.File) (*Model, error) {
	if err := model.CheckKeys(f, Arch, knownKeys); err != nil {
		return nil, fmt.Errorf("gemma: %w", err)
	}
	m := &model.Meta{F: f, Arch: Arch}
	c := Config{m.Decoder(true, 1e-6)}
	if v := m.Int("attention.value_length", c.HeadDim); m.Err == nil && v != c.HeadDim {
		return nil, fmt.Errorf("gemma: %w: attention.value_length %d differs from the key length %d", model.ErrUnsupported, v, c.HeadDim)
	}
	if m.Err == nil {
		// Tied output: there is no output.weight, and one is refused.
		m.Tensor("token_embd.weight", c.Dim, c.Vocab)
		m.Tensor("output_norm.weight", c.Dim)
		for l := range c.Layers {
			for _, t := range []struct {
				name string
				dims []int
			}{
				{"attn_norm.weight", []int{c.Dim}}, {"attn_q.weight", []int{c.Dim, c.QDim()}},
				{"attn_k.weight", []int{c.Dim, c.KVDim()}}, {"attn_v.weight", []int{c.Dim, c.KVDim()}},
				{"attn_output.weight", []int{c.QDim(), c.Dim}}, {"ffn_norm.weight", []int{c.Dim}},
				{"ffn_gate.weight", []int{c.Dim, c.FFN}}, {"ffn_up.weight", []int{c.Dim, c.FFN}},
				{"ffn_down.weight", []int{c.FFN, c.Dim}},
			} {
				m.Tensor(fmt.Sprintf("blk.%d.%s", l, t.name), t.dims...)
			}
		}
	}
	if err := m.Unread(); err != nil {
		return nil, fmt.Errorf("gemma: %w", err)
	}
	// Its memory need is counted as llama's: f32 activations per batch token
	// (residual, norm, queries, attention output and projection, new keys and
	// values, the two FFN hidden vectors).
	return &Model{Config: c, DecoderModel: c.Model(f, 3*c.Dim+2*c.QDim()+2*c.KVDim()+2*c.FFN)}, nil
}

func init() {
	model.Register(model.Arch{
		Names:        []string{Arch},
		Capabilities: []model.Capability{model.Generate},
		Load:         func(f *gguf.File) (model.Loaded, error) { return Load(f) },
	})
}
