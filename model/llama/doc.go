// Package llama runs the llama family of decoder-only transformers (llama,
// mistral, qwen2, qwen3) from GGUF files: hyper-parameters from metadata,
// weights kept in their stored types, and a plain f32 reference forward
// pass with a KV cache that every faster backend is tested against.
package llama
