package chat

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// ToolFormat is how a model family writes tool calls in its output.
type ToolFormat string

// Tool-call formats.
const (
	// ToolsNone: the template renders no tools; output is plain text.
	ToolsNone ToolFormat = ""
	// ToolsHermes (Qwen 2.5/3, Hermes): each call is
	// <tool_call>{"name": ..., "arguments": {...}}</tool_call>.
	ToolsHermes ToolFormat = "hermes"
	// ToolsLlama3 (Llama 3.1/3.2): the reply is one JSON object
	// {"name": ..., "parameters": {...}}, optionally after <|python_tag|>.
	ToolsLlama3 ToolFormat = "llama3"
	// ToolsMistral (Mistral v3+): [TOOL_CALLS] then a JSON array of
	// {"name": ..., "arguments": {...}, "id": ...}.
	ToolsMistral ToolFormat = "mistral"
)

// detectTools tells a template's tool-call format by the markers its
// source prints for tool calls.
func detectTools(src string) ToolFormat {
	switch {
	case strings.Contains(src, "<tool_call>"):
		return ToolsHermes
	case strings.Contains(src, "[TOOL_CALLS]"):
		return ToolsMistral
	case strings.Contains(src, "<|start_header_id|>") && strings.Contains(src, "tool_call"):
		return ToolsLlama3
	}
	return ToolsNone
}

// Reply is a model's output split into text and tool calls.
type Reply struct {
	// Content is the text outside the tool calls, trimmed of the space
	// around them.
	Content   string
	ToolCalls []ToolCall
}

// ParseReply splits the text a model generated into content and tool
// calls, per format. Text that holds no well-formed call is all content:
// a model may always answer in prose. Control tokens such as
// [TOOL_CALLS] and <|python_tag|> are absent from decoded text in most
// vocabularies, so each parser also takes the call without its marker.
func ParseReply(format ToolFormat, text string) Reply {
	var calls []ToolCall
	content := text
	switch format {
	case ToolsHermes:
		content, calls = parseHermes(text)
	case ToolsLlama3:
		body := strings.TrimSpace(text)
		body = strings.TrimSpace(strings.TrimPrefix(body, "<|python_tag|>"))
		if c, ok := callObject([]byte(body), "parameters", "arguments"); ok {
			content, calls = "", []ToolCall{c}
		}
	case ToolsMistral:
		body := strings.TrimSpace(text)
		prefix := ""
		if i := strings.Index(body, "[TOOL_CALLS]"); i >= 0 {
			prefix, body = strings.TrimSpace(body[:i]), strings.TrimSpace(body[i+len("[TOOL_CALLS]"):])
		}
		if cs, ok := callArray([]byte(body)); ok {
			content, calls = prefix, cs
		}
	}
	if len(calls) == 0 {
		return Reply{Content: text}
	}
	return Reply{Content: content, ToolCalls: calls}
}

// callMarkers are the texts that open a tool call in some format.
var callMarkers = []string{"<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"}

// ContentPrefix returns the part of a reply's text, as generated so far,
// that is content whatever the model generates next, in any format: it
// lets a stream send text while tool calls are still held. That is the
// text before the first call marker (or before an end that may grow into
// one), without the space around it, which ParseReply trims beside a call.
// A reply that opens with "{" or "[" may be a call whole (Llama 3's object,
// Mistral's array without its control token) and has none. As text grows,
// each result begins with the one before; once the reply is whole, the
// content ParseReply gives it begins with the result, or, when there are
// no calls, the text does after its leading space.
func ContentPrefix(text string) string {
	t := strings.TrimLeftFunc(text, unicode.IsSpace)
	if t == "" || t[0] == '{' || t[0] == '[' {
		return ""
	}
	end := len(t)
	for _, m := range callMarkers {
		if i := strings.Index(t, m); i >= 0 && i < end {
			end = i
		}
		// An end that is the start of the marker may grow into it.
		for n := min(len(m)-1, len(t)); n > 0; n-- {
			if strings.HasSuffix(t, m[:n]) {
				end = min(end, len(t)-n)
				break
			}
		}
	}
	return strings.TrimRightFunc(t[:end], unicode.IsSpace)
}

// parseHermes takes every well-formed <tool_call>...</tool_call> block
// out of text.
func parseHermes(text string) (string, []ToolCall) {
	const open, closing = "<tool_call>", "</tool_call>"
	var calls []ToolCall
	var rest strings.Builder
	for {
		i := strings.Index(text, open)
		if i < 0 {
			break
		}
		j := strings.Index(text[i:], closing)
		body := text[i+len(open):]
		end := len(text)
		if j >= 0 {
			body = text[i+len(open) : i+j]
			end = i + j + len(closing)
		}
		c, ok := callObject([]byte(strings.TrimSpace(body)), "arguments", "parameters")
		if !ok {
			break
		}
		calls = append(calls, c)
		rest.WriteString(text[:i])
		text = text[end:]
	}
	rest.WriteString(text)
	return strings.TrimSpace(rest.String()), calls
}

// callObject decodes {"name": ..., argsKey: {...}} (or altKey), with an
// optional "id"; arguments given as a JSON string holding an object are
// unwrapped.
func callObject(b []byte, argsKey, altKey string) (ToolCall, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return ToolCall{}, false
	}
	var c ToolCall
	if err := json.Unmarshal(obj["name"], &c.Name); err != nil || c.Name == "" {
		return ToolCall{}, false
	}
	if id, ok := obj["id"]; ok {
		if err := json.Unmarshal(id, &c.ID); err != nil {
			return ToolCall{}, false
		}
	}
	args, ok := obj[argsKey]
	if !ok {
		args, ok = obj[altKey]
	}
	if !ok {
		args = json.RawMessage("{}")
	}
	var s string
	if json.Unmarshal(args, &s) == nil {
		args = json.RawMessage(s)
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(args, &probe) != nil {
		return ToolCall{}, false
	}
	c.Arguments = compact(args)
	return c, true
}

// callArray decodes a JSON array of call objects.
func callArray(b []byte) ([]ToolCall, bool) {
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil || len(items) == 0 {
		return nil, false
	}
	calls := make([]ToolCall, len(items))
	for i, it := range items {
		c, ok := callObject(it, "arguments", "parameters")
		if !ok {
			return nil, false
		}
		calls[i] = c
	}
	return calls, true
}

// compact returns b without insignificant space (b is valid JSON).
func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
