// Package model defines what a loaded model offers the engine, whatever the
// backend: a Session evaluates tokens against its own KV cache and samples
// the next token. Subpackages read the GGUF format (gguf), convert tensor
// types (quant), tokenize (tokenizer), sample (sampling) and implement
// architectures (llama).
package model
