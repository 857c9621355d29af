package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/grammar"
)

// AnyTool, as Request.ForceTool, forces a call to one of the offered
// tools (OpenAI's tool_choice "required").
const AnyTool = "*"

// forcedCallGrammar returns the GBNF grammar of a reply that is one call,
// in the model's tool-call format, to the tool named name (AnyTool: to
// any of tools) with arguments valid against the tool's parameters
// schema. Mistral's [TOOL_CALLS] is a control token, absent from decoded
// text, so its call is the bare array the reply parser also takes.
func forcedCallGrammar(format chat.ToolFormat, tools []json.RawMessage, name string) (string, error) {
	argsKey := "arguments"
	switch format {
	case chat.ToolsNone:
		return "", fmt.Errorf("%w: the model's chat template has no tool-call format, so a call cannot be forced", ErrInvalid)
	case chat.ToolsLlama3:
		argsKey = "parameters"
	}
	var calls []string
	for i, raw := range tools {
		var t struct {
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &t); err != nil || t.Function.Name == "" {
			return "", fmt.Errorf("%w: tool %d has no function name", ErrInvalid, i)
		}
		if name != AnyTool && t.Function.Name != name {
			continue
		}
		params := t.Function.Parameters
		if len(params) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object"}`)
		}
		quoted, _ := json.Marshal(t.Function.Name)
		calls = append(calls, fmt.Sprintf(`{"type":"object","properties":{"name":{"const":%s},%q:%s},"required":["name",%q],"additionalProperties":false}`,
			quoted, argsKey, params, argsKey))
	}
	switch {
	case len(calls) == 0 && name == AnyTool:
		return "", fmt.Errorf("%w: tool_choice forces a call, but the request offers no tools", ErrInvalid)
	case len(calls) == 0:
		return "", fmt.Errorf("%w: tool_choice names the function %q, which the request's tools do not offer", ErrInvalid, name)
	}
	schema := calls[0]
	if len(calls) > 1 {
		schema = `{"anyOf":[` + strings.Join(calls, ",") + `]}`
	}
	call, err := grammar.SchemaGBNF([]byte(schema))
	if err != nil {
		return "", fmt.Errorf("%w: a tool's parameters: %w", ErrInvalid, err)
	}
	switch format {
	case chat.ToolsHermes:
		return renameRoot(call, "call") + `root ::= "<tool_call>\n" call "\n</tool_call>"` + "\n", nil
	case chat.ToolsMistral:
		return renameRoot(call, "call") + `root ::= "[" call "]"` + "\n", nil
	}
	return call, nil
}

// renameRoot renames the rule root of GBNF text src to name, outside
// string literals and character classes.
func renameRoot(src, name string) string {
	var b strings.Builder
	inString, inClass := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case (inString || inClass) && c == '\\' && i+1 < len(src):
			b.WriteByte(c)
			i++
			b.WriteByte(src[i])
			continue
		case inString:
			inString = c != '"'
		case inClass:
			inClass = c != ']'
		case c == '"':
			inString = true
		case c == '[':
			inClass = true
		case strings.HasPrefix(src[i:], "root") && !identByte(src, i-1) && !identByte(src, i+4):
			b.WriteString(name)
			i += 3
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// identByte reports whether src[i] is part of a rule name.
func identByte(src string, i int) bool {
	if i < 0 || i >= len(src) {
		return false
	}
	c := src[i]
	return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
