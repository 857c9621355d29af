package enginetest

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/llama"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

// Model is a llama-family model with its tokenizer. Its file stays mapped
// for the life of the test process.
type Model struct {
	m   *llama.Model
	tok *tokenizer.Tokenizer
}

// Load opens the GGUF file at path.
func Load(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := llama.Load(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Model{m: m, tok: tok}, nil
}

// NewSession returns a reference session with a context of ctx tokens. It
// panics on an impossible size, which is a mistake in the test.
func (m *Model) NewSession(ctx int) model.Session {
	s, err := m.m.NewReferenceSession(ctx)
	if err != nil {
		panic(fmt.Sprintf("enginetest: %v", err))
	}
	return s
}

// Tokenizer returns the model's tokenizer as the engine uses it.
func (m *Model) Tokenizer() engine.Tokenizer { return Tokenizer{m.tok} }

// Tokenizer adapts *tokenizer.Tokenizer to engine.Tokenizer.
type Tokenizer struct{ *tokenizer.Tokenizer }

// NewDecoder implements engine.Tokenizer.
func (t Tokenizer) NewDecoder() engine.Decoder { return t.NewStreamDecoder() }
