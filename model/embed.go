package model

import (
	"errors"

	"github.com/vkinfer/vkinfer/compute"
)

// Errors of embedding requests, which callers answer as the client's
// fault.
var (
	// ErrTooLong: an input longer than the model's context, not to be
	// truncated.
	ErrTooLong = errors.New("model: input longer than the context")
	// ErrOption: an option value the model cannot honour.
	ErrOption = errors.New("model: invalid option")
)

// EmbedOptions adjust an embedding request. The zero value embeds whole
// inputs at the model's full dimension.
type EmbedOptions struct {
	// Truncate cuts an input longer than the context instead of failing
	// with ErrTooLong.
	Truncate bool
	// Dimensions, when not 0, keeps only the first Dimensions components
	// of each vector and re-normalises them (Matryoshka-style truncation).
	Dimensions int
	// ParseSpecial lets special-token text in the input become special
	// tokens.
	ParseSpecial bool
}

// Tokenizer turns text into token ids; addSpecial adds the model's
// begin/end tokens.
type Tokenizer interface {
	Encode(text string, addSpecial, parseSpecial bool) ([]int32, error)
}

// Encoder runs a model's embedding graph over sequences packed into one
// pass (runner.Encoder on an executor).
type Encoder interface {
	// Forward returns every token's row of the graph's result, packed,
	// and the first row of each sequence (start[s] to start[s+1]).
	Forward(seqs [][]int32) (rows []float32, start []int, err error)
	// MaxTokens bounds the tokens of one pass.
	MaxTokens() int
}

// Embeddings are what EmbedTexts returns for a batch of texts.
type Embeddings struct {
	// Vectors holds one L2-normalised vector per text, in order.
	Vectors [][]float32
	// Tokens holds how many tokens the model ran for each text: after
	// truncation, and counting the special tokens ([CLS], [SEP], BOS)
	// the tokenizer added, since the model computed them too.
	Tokens []int
}

// TotalTokens is the sum of Tokens, a request's usage.
func (e Embeddings) TotalTokens() int {
	n := 0
	for _, t := range e.Tokens {
		n += t
	}
	return n
}

// TextEmbedder is a Loaded model that serves embeddings: its embedding
// graph gives every token a row (final hidden states), which EmbedTexts
// pools into one L2-normalised vector per text as the model's file says.
type TextEmbedder interface {
	Loaded
	BuildEmbedding(b *compute.Builder) compute.Tensor
	EmbedTexts(enc Encoder, tok Tokenizer, texts []string, opts EmbedOptions) (Embeddings, error)
}
