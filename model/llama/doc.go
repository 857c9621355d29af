// Package llama runs the llama family of decoder-only transformers (llama,
// mistral, qwen2, qwen3) from GGUF files: hyper-parameters from metadata,
// weights kept in their stored types, the forward pass as a graph (Build,
// BuildHidden) that package runner runs on every backend, and a plain f32
// reference forward pass (RefSession), for tests, that the graph and its
// executors are held to.
package llama
