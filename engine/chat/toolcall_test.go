package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func call(id, name, args string) ToolCall {
	return ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

// replyCases are replies in each format, with the content and calls
// ParseReply gives them.
var replyCases = []struct {
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
	{"hermes prose around a call", ToolsHermes, "\n Let me look.  \n<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\nDone \u00a0", "Let me look.  \n\nDone",
		[]ToolCall{call("", "a", `{}`)}},
	{"mistral prose before the calls", ToolsMistral, `Sure <x> [TOOL_CALLS] [{"name": "f", "arguments": {}}]`, "Sure <x>", []ToolCall{call("", "f", `{}`)}},
	{"hermes prose with a marker's start", ToolsHermes, "a <tool and [TOOL] <|py", "a <tool and [TOOL] <|py", nil},
}

func TestParseReply(t *testing.T) {
	for _, tt := range replyCases {
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

// TestContentPrefix holds ContentPrefix to what a stream relies on: over
// every prefix of each reply, each result begins with the one before, and
// the whole reply's content in any format (ParseReply's, or with no calls
// its text after leading space) begins with the last.
func TestContentPrefix(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Hello there ", "Hello there"},
		{"  \n", ""},
		{" {\"name\"", ""},
		{"[TOOL_CALLS]", ""},
		{"Sure. <tool_call>{", "Sure."},
		{"Sure. <tool_c", "Sure."},
		{"a < b", "a < b"},
		{"see [TOOL", "see"},
		{"x <|python_tag|>{}", "x"},
	} {
		if got := ContentPrefix(tc.text); got != tc.want {
			t.Errorf("ContentPrefix(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, tc := range replyCases {
		prev := ""
		for i := range len(tc.text) + 1 {
			got := ContentPrefix(tc.text[:i])
			if !strings.HasPrefix(got, prev) {
				t.Fatalf("%s: after %d bytes %q, which does not begin with %q", tc.name, i, got, prev)
			}
			prev = got
		}
		// The stream does not know the model's format: every format's
		// content must begin with what it sent.
		for _, f := range []ToolFormat{ToolsNone, ToolsHermes, ToolsLlama3, ToolsMistral} {
			whole := ParseReply(f, tc.text)
			content := whole.Content
			if len(whole.ToolCalls) == 0 {
				content = strings.TrimLeftFunc(tc.text, unicode.IsSpace)
			}
			if !strings.HasPrefix(content, prev) {
				t.Errorf("%s as %q: content %q does not begin with the streamed %q", tc.name, f, content, prev)
			}
		}
	}
}
