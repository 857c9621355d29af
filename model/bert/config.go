package bert

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Arch is the general.architecture value this package runs.
const Arch = "bert"

// PoolingType says how a sequence's hidden states become one vector. The
// values are those of llama.cpp's enum llama_pooling_type, which GGUF files
// store under `{arch}.pooling_type`.
type PoolingType int

// The pooling types. PoolingRank (reranker heads) is recognised so it can be
// refused by name.
const (
	PoolingNone PoolingType = 0 // no pooling: one vector per token
	PoolingMean PoolingType = 1 // mean of all the sequence's tokens
	PoolingCLS  PoolingType = 2 // the first token ([CLS])
	PoolingLast PoolingType = 3 // the last token
	PoolingRank PoolingType = 4 // classification head for reranking (not supported)
)

// String returns the name llama.cpp's --pooling option uses for p.
func (p PoolingType) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	case PoolingRank:
		return "rank"
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// valid reports whether Embed or EmbedTokens can apply p.
func (p PoolingType) valid() error {
	switch p {
	case PoolingNone, PoolingMean, PoolingCLS, PoolingLast:
		return nil
	case PoolingRank:
		return fmt.Errorf("%w: pooling type %s needs a classification head this package does not run", ErrUnsupported, p)
	}
	return fmt.Errorf("%w: pooling type %d", ErrUnsupported, int(p))
}

// knownKeys are the metadata keys under "bert." that this package reads
// or that leave the math alone; a file with any other is refused at load.
var knownKeys = []string{
	"block_count", "embedding_length", "feed_forward_length", "attention.head_count",
	"context_length", "attention.layer_norm_epsilon", "pooling_type", "attention.causal",
	"vocab_size",
}

// Config holds the hyperparameters of a BERT encoder, read from the
// `bert.*` and `tokenizer.ggml.*` metadata.
type Config struct {
	Blocks        int         // bert.block_count
	Embd          int         // bert.embedding_length
	FFN           int         // bert.feed_forward_length
	Heads         int         // bert.attention.head_count
	HeadDim       int         // Embd / Heads
	NormEps       float32     // bert.attention.layer_norm_epsilon
	ContextLength int         // bert.context_length: the longest input in tokens
	Pooling       PoolingType // bert.pooling_type (none when absent, as in llama.cpp)
	Causal        bool        // bert.attention.causal (false when absent)
	Vocab         int         // rows of token_embd
	TokenTypes    int         // rows of token_types
	// SepID is the separator ([SEP]) token id from tokenizer.ggml.seperator_token_id
	// (or eos_token_id), or -1. Truncation keeps a final separator in place.
	SepID int32
}

// ReadConfig reads the encoder's hyperparameters from f's metadata. Tensor
// shapes are checked by Load; Vocab and TokenTypes are filled in there.
func ReadConfig(f *gguf.File) (Config, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if arch != Arch {
		return Config{}, fmt.Errorf("%w: architecture %q (this package runs %q)", ErrUnsupported, arch, Arch)
	}
	if err := model.CheckKeys(f, Arch, knownKeys); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	var c Config
	ints := []struct {
		key string
		dst *int
	}{
		{"bert.block_count", &c.Blocks},
		{"bert.embedding_length", &c.Embd},
		{"bert.feed_forward_length", &c.FFN},
		{"bert.attention.head_count", &c.Heads},
		{"bert.context_length", &c.ContextLength},
	}
	for _, it := range ints {
		v, err := f.Uint(it.key)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrModel, err)
		}
		if v == 0 || v > 1<<24 {
			return Config{}, fmt.Errorf("%w: %s = %d is out of range", ErrModel, it.key, v)
		}
		*it.dst = int(v)
	}
	if c.Embd%c.Heads != 0 {
		return Config{}, fmt.Errorf("%w: embedding_length %d is not a multiple of head_count %d", ErrModel, c.Embd, c.Heads)
	}
	c.HeadDim = c.Embd / c.Heads

	eps, err := f.Float("bert.attention.layer_norm_epsilon")
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if !(eps > 0 && eps < 1) {
		return Config{}, fmt.Errorf("%w: bert.attention.layer_norm_epsilon = %g is out of range", ErrModel, eps)
	}
	c.NormEps = float32(eps)

	c.Pooling = PoolingNone
	if p, err := f.Int("bert.pooling_type"); err == nil {
		c.Pooling = PoolingType(p)
	} else if !errors.Is(err, gguf.ErrNotFound) {
		return Config{}, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if err := c.Pooling.valid(); err != nil {
		return Config{}, err
	}

	if b, err := f.Bool("bert.attention.causal"); err == nil {
		c.Causal = b
	} else if !errors.Is(err, gguf.ErrNotFound) {
		return Config{}, fmt.Errorf("%w: %w", ErrModel, err)
	}

	c.SepID = -1
	for _, key := range []string{"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.eos_token_id"} {
		if id, err := f.Uint(key); err == nil {
			c.SepID = int32(id)
			break
		}
	}
	return c, nil
}
