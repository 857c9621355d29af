// Package enginetest provides what engine and pool tests need to run a
// real model: a minimal f32 llama forward pass (model.Session) and a
// SentencePiece tokenizer (engine.Tokenizer) read from a GGUF file, plus
// a benchmark helper measuring the engine's overhead per token.
//
// The forward pass follows llama2.c's run.c and is written for clarity,
// not speed; it reproduces llama.cpp's greedy tokens for stories260K. It
// stands in for model/llama and model/tokenizer in these tests until those
// packages are in the tree, and is not meant for serving.
package enginetest
