package engine

import (
	"fmt"

	"github.com/vkinfer/vkinfer/grammar"
	"github.com/vkinfer/vkinfer/sampling"
)

// PieceTokenizer is what constrained generation and logprobs need of a
// tokenizer beyond Tokenizer: the bytes each token adds to the text
// (model/tokenizer.Tokenizer has them).
type PieceTokenizer interface {
	Piece(id int32, special bool) []byte
	VocabSize() int
}

// CompileGrammar returns the grammar the request's Format or Grammar
// asks for, nil when neither is set. Errors wrap ErrInvalid and name the
// unsupported schema feature or the grammar's syntax error.
func (r *Request) CompileGrammar() (*grammar.Grammar, error) {
	var g *grammar.Grammar
	var err error
	switch {
	case r.Grammar != "":
		g, err = grammar.Parse(r.Grammar)
	case r.Format == "json":
		g = grammar.JSON()
	case r.Format != "":
		g, err = grammar.FromSchema([]byte(r.Format))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return g, nil
}

// NewVocab lays out tok's vocabulary for grammar masks: every token's
// bytes, and which tokens end generation.
func NewVocab(tok Tokenizer) (*grammar.Vocab, error) {
	pt, ok := tok.(PieceTokenizer)
	if !ok {
		return nil, fmt.Errorf("%w: this model's tokenizer cannot constrain output", ErrInvalid)
	}
	n := pt.VocabSize()
	pieces := make([][]byte, n)
	eog := make([]bool, n)
	for id := range n {
		pieces[id] = pt.Piece(int32(id), false)
		eog[id] = tok.IsEOG(int32(id))
	}
	return grammar.NewVocab(pieces, eog)
}

// maxTables bounds the grammars an engine keeps tables for.
const maxTables = 4

// constrain sets up sampler for req's grammar and logprobs. Requests with
// the same format or grammar text share grammar.Tables, so a schema sent
// again finds its masks computed.
func (e *Engine) constrain(s *sampling.Sampler, req *Request) error {
	if req.Logprobs {
		if err := s.WantLogprobs(req.TopLogprobs); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if req.ForceTool != "" {
		if req.Format != "" || req.Grammar != "" || req.NoToolCalls {
			return fmt.Errorf("%w: a forced tool call excludes format, grammar and tool_choice none", ErrInvalid)
		}
		if e.prompter.TemplateErr != nil {
			return e.prompter.TemplateErr
		}
		var err error
		if req.Grammar, err = forcedCallGrammar(e.prompter.Template.Tools(), req.Tools, req.ForceTool); err != nil {
			return err
		}
	}
	if req.Format == "" && req.Grammar == "" {
		return nil
	}
	key := "format\x00" + req.Format + "\x00grammar\x00" + req.Grammar
	t := e.tables[key]
	if t == nil || t.Full() {
		g, err := req.CompileGrammar()
		if err != nil {
			return err
		}
		if e.vocab == nil {
			if e.vocab, err = NewVocab(e.tok); err != nil {
				return err
			}
		}
		if e.tables == nil || len(e.tables) >= maxTables {
			e.tables = map[string]*grammar.Tables{}
		}
		t = grammar.NewTables(g, e.vocab)
		e.tables[key] = t
	}
	s.Constrain(t.NewConstraint())
	return nil
}

// TokenLogprob is a generated token's log-probability and its most
// likely alternatives (see sampling.TokenLogprob), with each token's
// bytes as text (which may hold part of a UTF-8 sequence).
type TokenLogprob struct {
	TopLogprob
	Top []TopLogprob
}

// TopLogprob is one token's log-probability.
type TopLogprob struct {
	ID      int32
	Token   string
	Logprob float32
}

// logprob converts the sampler's record of the last draw.
func (e *Engine) logprob(lp sampling.TokenLogprob) TokenLogprob {
	conv := func(l sampling.Logprob) TopLogprob {
		t := TopLogprob{ID: l.ID, Logprob: l.Logprob}
		if pt, ok := e.tok.(PieceTokenizer); ok {
			t.Token = string(pt.Piece(l.ID, false))
		}
		return t
	}
	out := TokenLogprob{TopLogprob: conv(lp.Logprob), Top: make([]TopLogprob, len(lp.Top))}
	for i, l := range lp.Top {
		out.Top[i] = conv(l)
	}
	return out
}
