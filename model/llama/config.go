package llama

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// ErrArch is returned for a general.architecture this package does not run.
var ErrArch = errors.New("llama: unsupported architecture")

// RopeType says which dimensions RoPE rotates together.
type RopeType int

const (
	// RopeNormal rotates adjacent pairs (2i, 2i+1), as llama does.
	RopeNormal RopeType = iota
	// RopeNeoX rotates pairs (i, i+n/2), as GPT-NeoX and qwen do.
	RopeNeoX
)

func (r RopeType) String() string {
	if r == RopeNeoX {
		return "neox"
	}
	return "normal"
}

// ropeTypes are the architectures this package runs, with their RoPE
// layout (as llama.cpp assigns them).
var ropeTypes = map[string]RopeType{
	"llama":   RopeNormal,
	"mistral": RopeNormal,
	"qwen2":   RopeNeoX,
	"qwen3":   RopeNeoX,
}

// Supported reports whether arch is an architecture this package runs.
func Supported(arch string) bool {
	_, ok := ropeTypes[arch]
	return ok
}

// Config holds a model's hyper-parameters.
type Config struct {
	Arch      string
	VocabSize int
	Dim       int // embedding length
	Layers    int
	Heads     int
	KVHeads   int
	HeadDim   int
	FFN       int // feed-forward hidden size (of each expert, when there are experts)
	// Experts, when > 0, makes every block's feed-forward a mixture of
	// Experts experts of which each token uses ExpertsUsed (Mixtral).
	Experts, ExpertsUsed int
	ContextLength        int // the context the model was trained for
	NormEps              float32
	RopeDim              int     // leading dimensions of each head that RoPE rotates
	RopeBase             float32 // frequency base
	RopeScale            float32 // position multiplier (1 / linear scaling factor)
	Rope                 RopeType
	// Pooling is how Embed reduces hidden states to one vector: from
	// {arch}.pooling_type when the file has it, else mean.
	Pooling Pooling
}

// ReadConfig reads the hyper-parameters from f's metadata.
func ReadConfig(f *gguf.File) (Config, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("llama: %w", err)
	}
	rope, ok := ropeTypes[arch]
	if !ok {
		return Config{}, fmt.Errorf("%w %q (want llama, mistral, qwen2 or qwen3)", ErrArch, arch)
	}
	c := Config{Arch: arch, Rope: rope}
	var firstErr error
	uint := func(key string, def int) int {
		v, err := f.Uint(arch + "." + key)
		if errors.Is(err, gguf.ErrNotFound) && def >= 0 {
			return def
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return 0
		}
		if v > 1<<31 {
			if firstErr == nil {
				firstErr = fmt.Errorf("llama: %s.%s = %d is out of range", arch, key, v)
			}
			return 0
		}
		return int(v)
	}
	float := func(key string, def float64) float32 {
		v, err := f.Float(arch + "." + key)
		if errors.Is(err, gguf.ErrNotFound) {
			return float32(def)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return float32(v)
	}
	c.Dim = uint("embedding_length", -1)
	c.Layers = uint("block_count", -1)
	c.Heads = uint("attention.head_count", -1)
	c.FFN = uint("feed_forward_length", -1)
	c.ContextLength = uint("context_length", -1)
	c.Experts = uint("expert_count", 0)
	c.ExpertsUsed = uint("expert_used_count", 0)
	c.KVHeads = uint("attention.head_count_kv", c.Heads)
	if c.Heads > 0 {
		c.HeadDim = uint("attention.key_length", c.Dim/c.Heads)
	}
	c.RopeDim = uint("rope.dimension_count", c.HeadDim)
	c.NormEps = float("attention.layer_norm_rms_epsilon", 1e-5)
	c.RopeBase = float("rope.freq_base", 10000)
	c.RopeScale = 1
	// As llama.cpp: the factor (or the older rope.scale_linear) divides
	// positions; linear (the default) is the only scaling implemented.
	factor := float("rope.scaling.factor", 0)
	if factor == 0 {
		factor = float("rope.scale_linear", 0)
	}
	if factor > 0 {
		c.RopeScale = 1 / factor
	}
	c.Pooling = Pooling(uint("pooling_type", int(PoolingMean)))
	if firstErr != nil {
		return Config{}, fmt.Errorf("llama: %w", firstErr)
	}
	if err := checkMath(f, c); err != nil {
		return Config{}, err
	}
	if tokens, err := gguf.ArrayOf[string](f, "tokenizer.ggml.tokens"); err == nil {
		c.VocabSize = len(tokens)
	} else if t, err := f.Tensor("token_embd.weight"); err == nil && len(t.Dims) == 2 {
		c.VocabSize = int(t.Dims[1])
	}
	return c, c.validate()
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("llama: %s: %s", c.Arch, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.FFN <= 0 || c.VocabSize <= 0:
		return bad("embedding %d, blocks %d, heads %d, ffn %d and vocabulary %d must all be > 0", c.Dim, c.Layers, c.Heads, c.FFN, c.VocabSize)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return bad("%d heads cannot share %d kv heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return bad("head dimension %d must be even and > 0", c.HeadDim)
	case c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return bad("rope dimension %d must be even and within the head dimension %d", c.RopeDim, c.HeadDim)
	case c.Experts == 0 && c.ExpertsUsed != 0 || c.Experts > 0 && (c.ExpertsUsed <= 0 || c.ExpertsUsed > c.Experts):
		return bad("%d experts used of %d", c.ExpertsUsed, c.Experts)
	case c.ContextLength <= 0:
		return bad("context length %d must be > 0", c.ContextLength)
	case !(c.NormEps > 0) || !(c.RopeBase > 0):
		return bad("norm epsilon %v and rope base %v must be > 0", c.NormEps, c.RopeBase)
	case c.Pooling != PoolingMean && c.Pooling != PoolingFirst && c.Pooling != PoolingLast && c.Pooling != PoolingNone:
		return bad("pooling type %d is not none (0), mean (1), cls (2) or last (3)", c.Pooling)
	}
	return nil
}

// QDim is the width of the query projection (all heads).
func (c Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }
