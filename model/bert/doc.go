// Package bert defines BERT-style text encoders stored in GGUF files and
// turns their hidden states into sentence embeddings.
//
// Load reads the `bert.*` metadata into a Config and checks every tensor's
// type and shape; the weights stay in the file, in their stored
// (quantized) form. Build writes the encoder as a package compute graph
// over those tensors: embeddings (token, position, type 0), LayerNorm,
// then blocks of attention over each sequence and a GELU feed-forward,
// each followed by its residual and a LayerNorm (post-LN). There is no
// backend code here: the graph runs wherever an executor does
// (compute.Reference, backend/cpu, backend/vulkan), through a
// runner.Encoder that packs sequences of different lengths into one pass,
// each attending only to its own tokens, so a sequence's result does not
// depend on what shares its pass.
//
// Model implements model.TextEmbedder. Embed, EmbedTokens and EmbedTexts
// take such an encoder, split a batch into passes of its MaxTokens, and
// turn each sequence's final hidden states into vectors: pooled as the
// file's pooling type says (mean, [CLS] or last token; none gives one
// vector per token), optionally cut to fewer dimensions, L2-normalised.
// Inputs longer than the context fail with ErrTooLong unless truncated,
// which keeps a final [SEP].
package bert
