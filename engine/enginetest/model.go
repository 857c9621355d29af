package enginetest

import (
	"fmt"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
	_ "github.com/vkinfer/vkinfer/model/llama" // registers the llama family
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/runner"
)

// Model is a model opened on a backend, as the daemon opens it,
// with its tokenizer. Its file stays mapped for the life of the test
// process.
type Model struct {
	m   *runner.Model
	tok *tokenizer.Tokenizer
}

// Load opens the GGUF file at path on the CPU backend.
func Load(path string) (*Model, error) { return LoadOn(path, cpu.Backend{}) }

// LoadOn opens the GGUF file at path on be.
func LoadOn(path string, be runner.Backend) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := runner.Open(f, be)
	if err != nil {
		f.Close()
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		m.Close()
		f.Close()
		return nil, err
	}
	return &Model{m: m, tok: tok}, nil
}

// NewSession returns a session with a context of ctx tokens. It panics
// on an impossible size, which is a mistake in the test.
func (m *Model) NewSession(ctx int) model.Session {
	s, err := m.m.NewSession(ctx)
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
