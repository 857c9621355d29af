package chat

import "encoding/json"

// Roles a Message may have. Jinja templates may accept others (Llama 3.1
// has ipython); the hand-written families take system, user and
// assistant only.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string
	Content string
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// ToolCallID is the call a tool turn answers; Name is the tool's name.
	ToolCallID, Name string
}

// ToolCall is one function call made by the model.
type ToolCall struct {
	// ID is the call's id (optional; Mistral templates require 9
	// characters).
	ID   string
	Name string
	// Arguments is a JSON object.
	Arguments json.RawMessage
}

// Chat is what a template renders: the conversation, the tools offered
// (each an OpenAI-style {"type": "function", "function": {...}} JSON
// object, passed to the template as is), and whether the prompt ends with
// the opening of an assistant turn.
type Chat struct {
	Messages            []Message
	Tools               []json.RawMessage
	AddGenerationPrompt bool
}
