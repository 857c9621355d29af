// Package runner runs a model's graph on an executor as a model.Session:
// Eval turns tokens and positions into batches, builds (once per batch
// shape) the architecture's graph and has the executor run it; Sample
// draws from the last logits. It is where a sequence meets the KV cache
// the executor owns; architectures and backends meet only through
// package compute.
package runner
