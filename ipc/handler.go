package ipc

import "context"

// Handler serves requests; the daemon implements it over its pools. Its
// methods are called concurrently. Errors become error frames: an *Error
// (or one wrapped) keeps its code, context errors become canceled or
// timeout, anything else internal.
type Handler interface {
	// Generate runs req, calling emit for each chunk. emit blocks while
	// the client's connection is backed up, and fails once the request is
	// cancelled or the connection gone; Generate should then return.
	Generate(ctx context.Context, req *Request, emit func(Chunk) error) (*Stats, error)
	// Embed returns one vector per req.Input and the tokens they took.
	Embed(ctx context.Context, req *Request) (EmbedResult, error)
	Models(ctx context.Context) ([]ModelInfo, error)
	Load(ctx context.Context, req *Request) error
	Unload(ctx context.Context, req *Request) error
	Status(ctx context.Context) (*Status, error)
}

// TokenHandler answers tokenize and detokenize; a Handler that also
// implements it serves those ops (others answer unknown_op).
type TokenHandler interface {
	// Tokenize returns the token ids of req.Prompt (with the model's BOS
	// unless req.AddSpecial is false), or of req.Messages (and req.Tools)
	// rendered through the model's chat template, as generate would.
	Tokenize(ctx context.Context, req *Request) ([]int32, error)
	// Detokenize returns the text of req.Tokens.
	Detokenize(ctx context.Context, req *Request) (string, error)
}
