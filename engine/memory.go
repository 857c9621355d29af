package engine

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/gguf"
)

// Memory is an estimate of what one session of a model takes, for the
// pool's memory budget.
type Memory struct {
	Weights uint64 // tensor data, shared by all sessions of the model
	KVCache uint64 // keys and values of every layer at every position
	Scratch uint64 // activations of one prefill batch, attention scores, logits
}

// EstimateMemory estimates the memory of a session of the llama-family
// (decoder-only) model in f with a context of contextSize tokens (0 means
// the model's trained context), a KV cache of kvBytes bytes per value (4
// for f32, 2 for f16) and prefill batches of batchSize tokens (0 means
// DefaultBatchSize). Weights are exact; the scratch estimate assumes f32
// activations for the batch and attention scores for one token at a time.
func EstimateMemory(f *gguf.File, contextSize, kvBytes, batchSize int) (Memory, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return Memory{}, fmt.Errorf("engine: estimate memory: %w", err)
	}
	get := func(key string) uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = f.Uint(arch + "." + key)
		return v
	}
	layers, embd, heads, ffn, trained := get("block_count"), get("embedding_length"),
		get("attention.head_count"), get("feed_forward_length"), get("context_length")
	if err != nil {
		return Memory{}, fmt.Errorf("engine: estimate memory of %s model: %w", arch, err)
	}
	if heads == 0 || embd%heads != 0 {
		return Memory{}, fmt.Errorf("engine: estimate memory: %d heads do not divide embedding length %d", heads, embd)
	}
	headsKV := heads
	if v, ok := f.Lookup(arch + ".attention.head_count_kv"); ok {
		if n, ok := v.Uint(); ok && n > 0 {
			headsKV = n
		}
	}
	headDim := embd / heads
	if v, ok := f.Lookup(arch + ".attention.key_length"); ok {
		if n, ok := v.Uint(); ok && n > 0 {
			headDim = n
		}
	}
	vocab := uint64(0)
	if v, ok := f.Lookup("tokenizer.ggml.tokens"); ok {
		if a, ok := v.Data.(gguf.Array); ok {
			vocab = uint64(a.Len())
		}
	}
	if vocab == 0 {
		return Memory{}, errors.New("engine: estimate memory: no tokenizer.ggml.tokens")
	}
	ctx := uint64(contextSize)
	if ctx == 0 {
		ctx = trained
	}
	batch := uint64(batchSize)
	if batch == 0 {
		batch = DefaultBatchSize
	}
	batch = min(batch, ctx)
	if kvBytes <= 0 {
		return Memory{}, fmt.Errorf("engine: estimate memory: %d bytes per KV value", kvBytes)
	}

	var m Memory
	for _, t := range f.Tensors {
		m.Weights += uint64(t.Size)
	}
	kvDim := headsKV * headDim
	m.KVCache = 2 * layers * ctx * kvDim * uint64(kvBytes)
	// Per batch token: residual and normed input, attention output and
	// projection (4*embd), new keys and values (2*kvDim), the two FFN
	// hidden vectors (2*ffn); then one token's attention scores and the
	// logits.
	m.Scratch = 4 * (batch*(4*embd+2*kvDim+2*ffn) + heads*ctx + vocab)
	return m, nil
}
