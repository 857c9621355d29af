// Package bert runs BERT-style text encoders stored in GGUF files and turns
// their hidden states into sentence embeddings.
//
// Load reads the `bert.*` metadata into a Config, checks every tensor's type
// and shape, and keeps the weights as typed views into the file mapping
// (Tensor), so the CPU kernels and the Vulkan backend can use them in their
// quantized form. The forward pass in this package is the f32 reference: it
// dequantizes weight rows with package quant and reads top to bottom like
// the model it implements (embeddings, LayerNorm, bidirectional attention,
// GELU feed-forward, post-LN residuals, pooling, L2 normalisation).
//
// Sequences of different lengths run in one forward. They are packed one
// after another rather than padded, and attention is masked so a token only
// sees the tokens of its own sequence; a padded position is therefore never
// computed, and each sequence's result is the same as when it runs alone.
package bert
