// Package gemma2 runs Google's Gemma 2 models as a graph of compute ops:
// Gemma's decoder (embeddings scaled by √n_embd, a GELU-gated
// feed-forward, NeoX rope, the output tied to the embeddings) with
// RMS norms after attention and after the feed-forward too, attention
// scores and final logits soft-capped, and a sliding window on every
// other layer.
package gemma2

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Arch is the general.architecture value this package runs.
const Arch = "gemma2"

// knownKeys are the metadata keys under "gemma2." that this package reads
// or that leave the math alone; any other (rope scaling, say) is refused
// at load, by name.
var knownKeys = []string{
	"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.key_length",
	"attention.value_length", "attention.layer_norm_rms_epsilon", "attention.sliding_window",
	"attn_logit_softcapping", "final_logit_softcapping",
	"rope.dimension_count", "rope.freq_base", "vocab_size",
}

// Config holds a model's hyper-parameters.
type Config struct {
	model.DecoderParams
	// Window is how many positions (its own included) a token of an even
	// layer (0, 2, …) sees; odd layers see them all.
	Window int
	// AttnSoftCap and FinalSoftCap cap the attention scores and the
	// logits: s → cap·tanh(s/cap).
	AttnSoftCap, FinalSoftCap float32
	// QScale multiplies the rotated queries: 1/√(query_pre_attn_scalar),
	// which llama.cpp knows only by the model's size (its layer count).
	QScale float32
}

// Model is a loaded Gemma 2 model; File must stay open while it is used.
type Model struct {
	Config Config
	model.DecoderModel
}

// Load reads the configuration and checks every tensor of f, refusing
// metadata keys and tensors this package does not implement.
func Load(f *gguf.File) (*Model, error) {
	if err := model.CheckKeys(f, Arch, knownKeys); err != nil {
		return nil, fmt.Errorf("gemma2: %w", err)
	}
	m := &model.Meta{F: f, Arch: Arch}
	// The defaults of the soft-caps and the window are llama.cpp's, the
	// values of the released Gemma 2 models.
	c := Config{
		DecoderParams: m.Decoder(true, 1e-6),
		Window:        m.Int("attention.sliding_window", 4096),
		AttnSoftCap:   m.Float("attn_logit_softcapping", 50), FinalSoftCap: m.Float("final_logit_softcapping", 30),
	}
	if v := m.Int("attention.value_length", c.HeadDim); m.Err == nil && v != c.HeadDim {
		return nil, fmt.Errorf("gemma2: %w: attention.value_length %d differs from the key length %d", model.ErrUnsupported, v, c.HeadDim)
	}
	if m.Err == nil && (c.Window <= 0 || !(c.AttnSoftCap > 0) || !(c.FinalSoftCap > 0)) {
		m.Err = fmt.Errorf("%w: sliding window %d, soft-caps %g (attention) and %g (logits) must be > 0", model.ErrShape, c.Window, c.AttnSoftCap, c.FinalSoftCap)
	}
	if m.Err == nil {
		// llama.cpp scales the queries by the model's size, which it
		// tells by the layer count, and aborts on any other count.
		switch c.Layers {
		case 26, 42: // 2B, 9B
			c.QScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
		case 46: // 27B
			c.QScale = float32(1 / math.Sqrt(float64(c.Dim/c.Heads)))
		default:
			return nil, fmt.Errorf("gemma2: %w: block_count %d is none of the sizes (26, 42, 46 layers) whose query scale is known", model.ErrUnsupported, c.Layers)
		}
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
				{"attn_output.weight", []int{c.QDim(), c.Dim}}, {"post_attention_norm.weight", []int{c.Dim}},
				{"ffn_norm.weight", []int{c.Dim}},
				{"ffn_gate.weight", []int{c.Dim, c.FFN}}, {"ffn_up.weight", []int{c.Dim, c.FFN}},
				{"ffn_down.weight", []int{c.FFN, c.Dim}}, {"post_ffw_norm.weight", []int{c.Dim}},
			} {
				m.Tensor(fmt.Sprintf("blk.%d.%s", l, t.name), t.dims...)
			}
		}
	}
	if err := m.Unread(); err != nil {
		return nil, fmt.Errorf("gemma2: %w", err)
	}
	// Its memory need is counted as gemma's: f32 activations per batch token
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
