// Package tokenizer turns text into token ids and back, in pure Go, from a
// GGUF file's tokenizer.ggml.* metadata. It implements the three tokenizer
// models llama.cpp reads from GGUF, and matches llama.cpp's ids exactly:
//
//   - "llama": SentencePiece BPE over scores, with byte fallback;
//   - "gpt2": byte-level BPE over merge ranks, after the pre-tokenizer
//     regexes tokenizer.ggml.pre names;
//   - "bert": WordPiece, greedy longest match after BERT's basic
//     tokenization.
//
// Special tokens (control and user-defined) are split out of the text
// first; a Decoder turns ids back into text, holding back UTF-8 sequences
// split across tokens.
package tokenizer
