package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func call(id, name, args string) ToolCall {
	return ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		format  ToolFormat
		text    string
		content string
		calls   []ToolCall
	}{
		{"hermes one", ToolsHermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "",
			[]ToolCall{call("", "get_weather", `{"city":"Paris"}`)}},
		{"hermes two with text", ToolsHermes, "Checking.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n</tool_call>", "Checking.",
			[]ToolCall{call("", "a", `{}`), call("", "b", `{"x":[1,2]}`)}},
		{"hermes unclosed at the end", ToolsHermes, "<tool_call>{\"name\": \"a\", \"arguments\": {\"k\": 1}}", "",
			[]ToolCall{call("", "a", `{"k":1}`)}},
		{"hermes arguments as a string", ToolsHermes, `<tool_call>{"name": "a", "arguments": "{\"k\": 1}"}</tool_call>`, "",
			[]ToolCall{call("", "a", `{"k":1}`)}},
		{"hermes broken JSON is prose", ToolsHermes, "<tool_call>{\"name\": </tool_call>", "<tool_call>{\"name\": </tool_call>", nil},
		{"hermes no name is prose", ToolsHermes, `<tool_call>{"arguments": {}}</tool_call>`, `<tool_call>{"arguments": {}}</tool_call>`, nil},
		{"llama3", ToolsLlama3, ` {"name": "get_weather", "parameters": {"city": "Oslo"}}`, "",
			[]ToolCall{call("", "get_weather", `{"city":"Oslo"}`)}},
		{"llama3 python tag", ToolsLlama3, `<|python_tag|>{"name": "f", "parameters": {}}`, "", []ToolCall{call("", "f", `{}`)}},
		{"llama3 prose", ToolsLlama3, "It is sunny.", "It is sunny.", nil},
		{"llama3 arguments not an object", ToolsLlama3, `{"name": "f", "parameters": [1]}`, `{"name": "f", "parameters": [1]}`, nil},
		{"mistral", ToolsMistral, `[TOOL_CALLS] [{"name": "f", "arguments": {"a": 1}, "id": "abcdefghi"}, {"name": "g", "arguments": {}}]`, "",
			[]ToolCall{call("abcdefghi", "f", `{"a":1}`), call("", "g", `{}`)}},
		{"mistral without the control token", ToolsMistral, `[{"name": "f", "arguments": {"a": 1}}]`, "", []ToolCall{call("", "f", `{"a":1}`)}},
		{"mistral prose", ToolsMistral, "[1, 2] are numbers", "[1, 2] are numbers", nil},
		{"no format", ToolsNone, `<tool_call>{"name": "f", "arguments": {}}</tool_call>`, `<tool_call>{"name": "f", "arguments": {}}</tool_call>`, nil},
	}
	for _, tt := range tests {
		got := ParseReply(tt.format, tt.text)
		if got.Content != tt.content || !reflect.DeepEqual(got.ToolCalls, tt.calls) {
			t.Errorf("%s: %q %+v, want %q %+v", tt.name, got.Content, got.ToolCalls, tt.content, tt.calls)
		}
	}
}

// TestToolFormats: each well-known template tells its tool-call format.
func TestToolFormats(t *testing.T) {
	for name, want := range map[string]ToolFormat{
		"qwen2.5-tools": ToolsHermes, "qwen3-tools": ToolsHermes, "llama3.1-tools": ToolsLlama3,
		"mistral-v3-tools": ToolsMistral, "llama3": ToolsNone, "chatml": ToolsNone, "gemma2": ToolsNone,
	} {
		src, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := Parse(string(src), Tokens{})
		if err != nil || tmpl.Tools() != want {
			t.Errorf("%s: %q %v, want %q", name, tmpl.Tools(), err, want)
		}
	}
}
