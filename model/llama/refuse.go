package llama

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// knownKeys are the metadata keys under "{arch}." that this package reads
// or that leave the math alone. Any other key (a soft-cap, a sliding
// window, shared experts, another scaling's parameters) is refused at
// load.
var knownKeys = []string{
	"context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.key_length",
	"attention.value_length", "attention.layer_norm_rms_epsilon",
	"rope.dimension_count", "rope.freq_base",
	"rope.scaling.type", "rope.scaling.factor", "rope.scale_linear",
	// Used by YaRN only, which is refused below; informational otherwise.
	"rope.scaling.original_context_length", "rope.scaling.finetuned",
	"vocab_size", "pooling_type",
	// Mixtral-style experts: softmax routing, top expert_used_count,
	// renormalised. Shared experts, weight scales and other gating
	// functions are refused.
	"expert_count", "expert_used_count",
	// How the original checkpoint laid out q and k; converters have
	// already permuted the rows.
	"tensor_data_layout",
}

// ropeScalings are the rope.scaling.type values implemented: none and
// linear (the factor divides positions, as llama.cpp applies it).
var ropeScalings = []string{"none", "linear"}

// checkMath refuses a file whose metadata asks for math this package does
// not implement, naming the key and its value.
func checkMath(f *gguf.File, c Config) error {
	if err := model.CheckKeys(f, c.Arch, knownKeys); err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	key := c.Arch + ".rope.scaling.type"
	typ, err := f.String(key)
	switch {
	case errors.Is(err, gguf.ErrNotFound):
	case err != nil:
		return fmt.Errorf("llama: %w", err)
	case typ != "none" && typ != "linear":
		return fmt.Errorf("llama: %w: %s = %q (implemented: %q)", model.ErrUnsupported, key, typ, ropeScalings)
	}
	if v, err := f.Uint(c.Arch + ".attention.value_length"); err == nil && int(v) != c.HeadDim {
		return fmt.Errorf("llama: %w: %s.attention.value_length = %d differs from the key length %d", model.ErrUnsupported, c.Arch, v, c.HeadDim)
	}
	return nil
}
