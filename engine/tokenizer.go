package engine

// Tokenizer is what the engine needs of a model's tokenizer.
type Tokenizer interface {
	// Encode turns text into token ids; addSpecial adds the model's
	// beginning-of-sequence token, parseSpecial turns special-token text
	// (e.g. "<|im_end|>") into its id.
	Encode(text string, addSpecial, parseSpecial bool) ([]int32, error)
	// NewDecoder returns a streaming decoder for one generation.
	NewDecoder() Decoder
	// IsEOG reports whether id ends generation (EOS, EOT, ...).
	IsEOG(id int32) bool
}

// Decoder turns a stream of token ids into text, holding back bytes of a
// UTF-8 sequence split across tokens until it is complete.
type Decoder interface {
	// Decode takes the next token and returns the text now complete.
	Decode(id int32) string
	// Flush returns whatever is still held back at the end of the stream.
	Flush() string
}
