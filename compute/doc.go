// Package compute is the backend-neutral model graph: tensors (weights,
// batch inputs, the KV cache, scratch) and the ops a transformer needs,
// each with a shape check at build time and a plain-Go reference.
//
// An architecture is written once, as a function of ops over named GGUF
// tensors (see Builder); executors run the graph on a backend: package
// backend/cpu on the SIMD kernels, backend/vulkan on the device.
// Reference runs any graph in plain float32 Go and is the oracle the
// executors are tested against, not a fast path.
//
// Activations are matrices of one row per batch token (Shape{Cols, Rows}),
// as in ggml: Cols is the row length. Per-head ops (RoPE, head norms,
// attention) take the head size as a parameter rather than a third
// dimension, which keeps every activation a plain matrix that any
// backend can bind as one buffer.
package compute
