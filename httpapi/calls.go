package httpapi

import (
	"encoding/json"
	"strings"
	"unicode"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/ipc"
)

// This file holds the replies' tool calls and logprobs in each dialect's
// shape.

// parsesCalls reports whether the daemon parses req's reply for tool
// calls: a stream then sends only what is content whatever follows (see
// callStream) and the rest at the end, split into content and calls.
func parsesCalls(req *ipc.Request) bool {
	return len(req.Tools) > 0 && req.ToolChoice != "none"
}

// callStream is a streamed reply the daemon parses for tool calls. The
// text that is content whatever the model writes next
// (chat.ContentPrefix) goes out as it comes; the rest is held to the end,
// where the content not yet sent and the calls go out. With logprobs
// asked for, everything is held, since a delta's logprobs are its
// tokens'.
type callStream struct {
	out     output
	sent    string // the content sent so far
	holdAll bool
}

// add takes a chunk and returns the content that may go out now.
func (c *callStream) add(ch ipc.Chunk) string {
	c.out.add(ch)
	if c.holdAll {
		return ""
	}
	p := chat.ContentPrefix(c.out.text.String())
	delta := p[len(c.sent):]
	c.sent = p
	return delta
}

// end returns the content not yet sent, the calls and the finish reason.
// The content begins with what was sent (ContentPrefix promises it); a
// reply without calls was sent without its leading space.
func (c *callStream) end(stats *ipc.Stats) (rest string, calls []ipc.ToolCall, reason string) {
	content, calls, reason := c.out.split(stats)
	if c.sent == "" {
		return content, calls, reason
	}
	if len(calls) == 0 {
		content = strings.TrimLeftFunc(content, unicode.IsSpace)
	}
	return strings.TrimPrefix(content, c.sent), calls, reason
}

// openAICall is a call in a reply, its arguments a JSON string; Index
// is set in streamed deltas.
type openAICall struct {
	Index    *int               `json:"index,omitempty"`
	ID       string             `json:"id"`
	Type     string             `json:"type"`
	Function openAICallFunction `json:"function"`
}

type openAICallFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// openAICalls writes calls in OpenAI's shape; a call the daemon gave no
// id gets one, as clients answer calls by it.
func openAICalls(calls []ipc.ToolCall, streamed bool) []openAICall {
	out := make([]openAICall, len(calls))
	for i, c := range calls {
		id := c.ID
		if id == "" {
			id = newID("call_")
		}
		out[i] = openAICall{ID: id, Type: "function", Function: openAICallFunction{Name: c.Function.Name, Arguments: string(argumentsOf(c))}}
		if streamed {
			out[i].Index = &i
		}
	}
	return out
}

// ollamaCalls writes calls in Ollama's shape, the arguments an object.
func ollamaCalls(calls []ipc.ToolCall) []ollamaToolCall {
	out := make([]ollamaToolCall, len(calls))
	for i, c := range calls {
		out[i].ID = c.ID
		out[i].Function.Index = &i
		out[i].Function.Name = c.Function.Name
		out[i].Function.Arguments = json.RawMessage(argumentsOf(c))
	}
	return out
}

func argumentsOf(c ipc.ToolCall) []byte {
	if len(c.Function.Arguments) == 0 {
		return []byte("{}")
	}
	return c.Function.Arguments
}

// tokenLogprob is a token's log-probability in OpenAI chat's and
// Ollama's shape (both the same): bytes are numbers, not base64.
type tokenLogprob struct {
	Token       string         `json:"token"`
	Logprob     float64        `json:"logprob"`
	Bytes       []int          `json:"bytes"`
	TopLogprobs []tokenLogprob `json:"top_logprobs,omitempty"`
}

func byteInts(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// tokenLogprobs translates the daemon's logprobs; every entry lists its
// alternatives (an empty list when none were asked for), as OpenAI does.
func tokenLogprobs(lps []ipc.TokenLogprob) []tokenLogprob {
	out := make([]tokenLogprob, len(lps))
	for i, lp := range lps {
		top := make([]tokenLogprob, len(lp.TopLogprobs))
		for j, a := range lp.TopLogprobs {
			top[j] = tokenLogprob{Token: a.Token, Logprob: float64(a.Logprob), Bytes: byteInts(a.Bytes)}
		}
		out[i] = tokenLogprob{Token: lp.Token, Logprob: float64(lp.Logprob), Bytes: byteInts(lp.Bytes), TopLogprobs: top}
	}
	return out
}

// chatLogprobs is a chat choice's logprobs.
type chatLogprobs struct {
	Content []tokenLogprob `json:"content"`
	Refusal []tokenLogprob `json:"refusal"`
}

// chatLogprobsOf is nil unless req asked for logprobs.
func chatLogprobsOf(req *ipc.Request, lps []ipc.TokenLogprob) *chatLogprobs {
	if !req.Logprobs {
		return nil
	}
	return &chatLogprobs{Content: tokenLogprobs(lps), Refusal: []tokenLogprob{}}
}

// textLogprobs are the legacy completions' logprobs: parallel lists, the
// alternatives as token → logprob maps, text_offset the byte offset of
// each token in the completion.
type textLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// textLogprobsOf translates lps, whose first token starts at byte offset
// of the completion; it returns the offset after the last token.
func textLogprobsOf(lps []ipc.TokenLogprob, offset int) (*textLogprobs, int) {
	out := &textLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, lp := range lps {
		top := make(map[string]float64, len(lp.TopLogprobs))
		for _, a := range lp.TopLogprobs {
			top[a.Token] = float64(a.Logprob)
		}
		out.Tokens = append(out.Tokens, lp.Token)
		out.TokenLogprobs = append(out.TokenLogprobs, float64(lp.Logprob))
		out.TopLogprobs = append(out.TopLogprobs, top)
		out.TextOffset = append(out.TextOffset, offset)
		offset += len(lp.Bytes)
	}
	return out, offset
}
