package engine

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine/chat"
)

// Prompter turns requests into prompt tokens with a model's tokenizer and
// chat template, as Generate does. It needs no weights, so the tokenize
// op answers with one alone.
type Prompter struct {
	Tok      Tokenizer
	Template chat.Template
	// TemplateErr is the error chat requests get when the model has no
	// usable chat template.
	TemplateErr error
}

// NewPrompter parses the chat template source src (see chat.Parse);
// name, when set, names the model in template errors.
func NewPrompter(tok Tokenizer, src string, tokens chat.Tokens, name string) Prompter {
	p := Prompter{Tok: tok}
	p.Template, p.TemplateErr = chat.Parse(src, tokens)
	if p.TemplateErr != nil && name != "" {
		p.TemplateErr = fmt.Errorf("model %s: %w", name, p.TemplateErr)
	}
	return p
}

// Tokens renders req's messages (and tools) through the chat template, or
// takes its raw prompt, and encodes the text with the model's BOS added
// and special tokens parsed. It does not check the length against a
// context.
func (p Prompter) Tokens(req *Request) ([]int32, error) {
	text := req.Prompt
	if len(req.Tools) > 0 && len(req.Messages) == 0 {
		return nil, fmt.Errorf("%w: tools need messages (chat mode), not a raw prompt", ErrInvalid)
	}
	if len(req.Messages) > 0 {
		if p.TemplateErr != nil {
			return nil, p.TemplateErr
		}
		c := chat.Chat{Messages: req.Messages, Tools: req.Tools, AddGenerationPrompt: true}
		var err error
		if text, err = p.Template.Prompt(c, p.addsBOS()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	toks, err := p.Tok.Encode(text, true, true)
	if err != nil {
		return nil, fmt.Errorf("engine: tokenize prompt: %w", err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: the prompt is empty and the model adds no BOS token", ErrInvalid)
	}
	return toks, nil
}

// addsBOS reports whether the tokenizer adds a BOS token of its own.
func (p Prompter) addsBOS() bool {
	toks, err := p.Tok.Encode("", true, false)
	return err == nil && len(toks) > 0
}
