package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/sampling"
)

// Sentinel errors callers branch on. Parameter errors wrap ErrInvalid (and
// sampling.ErrInvalid for sampling parameters).
var (
	// ErrInvalid is wrapped by every request validation error.
	ErrInvalid = errors.New("engine: invalid request")
	// ErrPromptTooLong: the prompt has more tokens than the context holds.
	ErrPromptTooLong = errors.New("engine: prompt longer than the context")
)

// Request is one generation request. Exactly one of Prompt and Messages
// is used: Messages (chat mode) when non-empty, else Prompt (raw mode).
type Request struct {
	// Prompt is raw text, tokenized with the model's BOS added and special
	// tokens parsed, as llama.cpp does.
	Prompt string
	// Messages are rendered through the model's chat template, which ends
	// with the opening of an assistant turn.
	Messages []chat.Message
	// Tools are offered to the model through its chat template (OpenAI
	// {"type": "function", "function": {...}} JSON objects); the reply is
	// then parsed for tool calls (Result.ToolCalls), unless NoToolCalls.
	Tools []json.RawMessage
	// NoToolCalls leaves the reply unparsed (tool_choice "none").
	NoToolCalls bool
	// ForceTool forces the reply to be one call, in the model's tool-call
	// format, to the tool of this name (AnyTool: to any of Tools), its
	// arguments valid against the tool's parameters schema (tool_choice
	// "required" or a named function). It is a grammar, so it excludes
	// Format and Grammar.
	ForceTool string
	// Params are the sampling parameters (sampling.Defaults or
	// sampling.Greedy are good starting points).
	Params sampling.Params
	// MaxTokens caps the generated tokens; 0 means no cap (generation ends
	// at an end-of-generation token, a stop string or a full context).
	MaxTokens int
	// Stop strings end generation when they appear in the output; neither
	// the stop string nor any text after it is emitted.
	Stop []string
	// ContextSize bounds the positions (prompt and output) of this
	// request, at most the session's; 0 means the session's.
	ContextSize int
	// Format constrains the output to JSON: "json" for any JSON value, else
	// a JSON schema (grammar.FromSchema). Grammar constrains it to a GBNF
	// grammar (grammar.Parse) instead. Empty is unconstrained.
	Format, Grammar string
	// Logprobs asks for each generated token's log-probability in the
	// chunks, with TopLogprobs (0 to sampling.MaxTopLogprobs) alternatives.
	Logprobs    bool
	TopLogprobs int
}

// Validate reports the first invalid field. The prompt length is checked
// by Generate, which knows the context size.
func (r *Request) Validate() error {
	if err := r.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.ContextSize < 0 {
		return fmt.Errorf("%w: context_size %d must be >= 0", ErrInvalid, r.ContextSize)
	}
	if r.MaxTokens < 0 {
		return fmt.Errorf("%w: max_tokens %d must be >= 0", ErrInvalid, r.MaxTokens)
	}
	if r.Format != "" && r.Grammar != "" {
		return fmt.Errorf("%w: format and grammar are exclusive", ErrInvalid)
	}
	if r.TopLogprobs < 0 || r.TopLogprobs > sampling.MaxTopLogprobs {
		return fmt.Errorf("%w: top_logprobs %d must be in [0, %d]", ErrInvalid, r.TopLogprobs, sampling.MaxTopLogprobs)
	}
	for i, s := range r.Stop {
		if s == "" {
			return fmt.Errorf("%w: stop string %d is empty", ErrInvalid, i)
		}
	}
	return nil
}
