// Package enginetest gives engine and pool tests a real model to run:
// Load opens a GGUF file through runner.Open on the CPU backend, as the
// daemon does, and hands out its sessions and the engine's view of its
// tokenizer (model/tokenizer). Overhead
// benchmarks what the engine adds to the raw forward-and-sample loop.
package enginetest
