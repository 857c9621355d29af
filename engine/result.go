package engine

import (
	"time"

	"github.com/vkinfer/vkinfer/engine/chat"
)

// StopReason says why generation ended.
type StopReason string

// Stop reasons.
const (
	StopEOG         StopReason = "eog"          // the model emitted an end-of-generation token
	StopString      StopReason = "stop"         // a stop string appeared
	StopMaxTokens   StopReason = "max_tokens"   // Request.MaxTokens reached
	StopContextFull StopReason = "context_full" // the KV cache is full
	StopCancelled   StopReason = "cancelled"    // the context was cancelled or the callback failed
	StopError       StopReason = "error"        // validation, tokenizer or backend error
)

// Chunk is one piece of streamed output.
type Chunk struct {
	// Text is valid UTF-8 and never contains any part of a stop string that
	// matched.
	Text string
	// Tokens are the ids generated since the previous chunk. Text held back
	// (an incomplete UTF-8 sequence or a possible stop-string start) is sent
	// with a later chunk together with the tokens that completed it.
	Tokens []int32
	// Logprobs has one entry per token of Tokens when Request.Logprobs is
	// set.
	Logprobs []TokenLogprob
}

// Result is the outcome of one request.
type Result struct {
	StopReason StopReason
	// StopString is the stop string that matched, when StopReason is
	// StopString.
	StopString string
	// ToolCalls are the tool calls found in the reply of a request that
	// offered tools, in the model's format; Content is then the reply's
	// text outside them. Both are empty when the model answered in prose.
	ToolCalls []chat.ToolCall
	Content   string
	// PromptTokens is the prompt length in tokens; CachedTokens of those
	// were reused from the session's KV cache and not evaluated again.
	PromptTokens, CachedTokens int
	// GeneratedTokens is the number of tokens sent in chunks (an
	// end-of-generation token is not counted).
	GeneratedTokens int
	// LoadDuration is the time spent loading the model for this request;
	// the engine leaves it zero and the pool fills it in.
	LoadDuration time.Duration
	// PromptDuration runs from the start of prefill to the first sampled
	// token; GenerationDuration from there to the end.
	PromptDuration, GenerationDuration time.Duration
	// TimeToFirstToken runs from the start of Generate to the first chunk.
	TimeToFirstToken time.Duration
	// PromptTokensPerSecond counts evaluated (not cached) prompt tokens.
	PromptTokensPerSecond, GenerationTokensPerSecond float64
}

func perSecond(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
