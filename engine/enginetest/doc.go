// Package enginetest gives engine and pool tests a real model to run:
// Load opens a GGUF file with model/llama and model/tokenizer and hands out
// reference sessions and the engine's view of the tokenizer. Overhead
// benchmarks what the engine adds to the raw forward-and-sample loop.
package enginetest
