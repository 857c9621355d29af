package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	if _, err := Parse(" \n", Tokens{}); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("empty: %v", err)
	}
	if tmpl, err := Parse("chatml", Tokens{}); err != nil || tmpl.Name() != "chatml" {
		t.Errorf("family name: %v %v", tmpl.Name(), err)
	}
	// A source our engine cannot compile falls back to its family.
	tmpl, err := Parse("{% for m in messages %}<|im_start|>{% endfro %}", Tokens{})
	if err != nil || tmpl.Name() != "chatml" || !errors.Is(tmpl.Fallback(), ErrTemplate) {
		t.Errorf("broken chatml: %v %v %v", tmpl.Name(), tmpl.Fallback(), err)
	}
	if _, err := Parse("{% for m in messages %}### {% endfro %}", Tokens{}); !errors.Is(err, ErrTemplate) {
		t.Errorf("broken unknown: %v", err)
	}
	// Hand-written families refuse tools and tool calls.
	fam, _ := ByName("chatml")
	if _, err := fam.Render(Chat{Messages: []Message{{Role: RoleUser, Content: "x"}}, Tools: []json.RawMessage{json.RawMessage(`{}`)}}); !errors.Is(err, ErrTools) {
		t.Errorf("family with tools: %v", err)
	}
	if _, err := fam.Render(Chat{Messages: []Message{{Role: RoleAssistant, ToolCalls: []ToolCall{call("", "f", `{}`)}}}}); !errors.Is(err, ErrMessages) {
		t.Errorf("family with tool calls: %v", err)
	}
}

func TestPromptBOS(t *testing.T) {
	tmpl, err := Parse("{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}", Tokens{BOS: "<s>", EOS: "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	c := Chat{Messages: []Message{{Role: RoleUser, Content: "hi"}}}
	for _, tc := range []struct {
		adds bool
		want string
	}{{true, "hi</s>"}, {false, "<s>hi</s>"}} {
		if got, err := tmpl.Prompt(c, tc.adds); err != nil || got != tc.want {
			t.Errorf("tokenizer adds BOS %v: %q %v, want %q", tc.adds, got, err, tc.want)
		}
	}
	if got, _ := tmpl.Render(c); got != "<s>hi</s>" {
		t.Errorf("Render = %q, want the template's BOS kept", got)
	}
}

func TestJinjaErrors(t *testing.T) {
	tmpl, err := Parse(`{{ raise_exception("no " + messages[0].role) }}`, Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(Chat{Messages: []Message{{Role: "robot"}}})
	if !errors.Is(err, ErrRaised) || !strings.HasSuffix(err.Error(), ": no robot") {
		t.Errorf("raise_exception: %v", err)
	}
	tmpl, _ = Parse(`{{ messages[0].content }}`, Tokens{})
	for _, c := range []Chat{
		{},
		{Messages: []Message{{Content: "no role"}}},
		{Messages: []Message{{Role: "assistant", ToolCalls: []ToolCall{call("", "f", `[1]`)}}}},
		{Messages: []Message{{Role: "assistant", ToolCalls: []ToolCall{call("", "f", `{"a":`)}}}},
	} {
		if _, err := tmpl.Render(c); !errors.Is(err, ErrMessages) {
			t.Errorf("%+v: %v, want ErrMessages", c, err)
		}
	}
	if _, err := tmpl.Render(Chat{Messages: []Message{{Role: "user"}}, Tools: []json.RawMessage{json.RawMessage(`"f"`)}}); !errors.Is(err, ErrTools) {
		t.Errorf("tool not an object: %v", err)
	}
}

func TestRewriteToJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{{ t | tojson(indent=4) }}`:                  `{{ __vkinfer_tojson(t, indent=4) }}`,
		`{{- tool_call.arguments|tojson }}`:           `{{- __vkinfer_tojson(tool_call.arguments) }}`,
		`{% set out = m['a'].b|tojson %}`:             `{% set out = __vkinfer_tojson(m['a'].b) %}`,
		`{{ '"' + key + '": ' + val|tojson }}`:        `{{ '"' + key + '": ' + __vkinfer_tojson(val) }}`,
		`x | tojson {{ "}}" }}{{ a|tojson }}`:         `x | tojson {{ "}}" }}{{ __vkinfer_tojson(a) }}`,
		`{{ f(x)|tojson }}`:                           `{{ f(x)|tojson }}`,
		`{{ x | tojson(separators=(',', ':')) }}`:     `{{ __vkinfer_tojson(x, separators=(',', ':')) }}`,
		`{{ x|tojson(indent=2)|safe }}{{ y|tojson }}`: `{{ __vkinfer_tojson(x, indent=2)|safe }}{{ __vkinfer_tojson(y) }}`,
	} {
		if got := rewriteToJSON(in); got != want {
			t.Errorf("rewriteToJSON(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", -2.5e-7: "-2.5e-07", 1e16: "1e+16", 1e15: "1000000000000000.0", 0.1: "0.1", 123.456: "123.456", 1e-4: "0.0001",
	} {
		if got := pyFloat(f); got != want {
			t.Errorf("pyFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestStrftime(t *testing.T) {
	at := time.Date(2024, time.July, 6, 15, 4, 5, 0, time.UTC)
	if got := strftime("%d %b %Y, %A %I:%M:%S %p %%j=%j %e", at); got != "06 Jul 2024, Saturday 03:04:05 PM %j=188  6" {
		t.Errorf("strftime = %q", got)
	}
}

// TestToJSONOptions: the keyword arguments of json.dumps that templates
// pass, with the outputs Python gives.
func TestToJSONOptions(t *testing.T) {
	for src, want := range map[string]string{
		`{{ tools[0] | tojson }}`:                        `{"b": [1, 2.0, {}], "a": "é"}`,
		`{{ tools[0] | tojson(separators=(',', ':')) }}`: `{"b":[1,2.0,{}],"a":"é"}`,
		`{{ tools[0] | tojson(sort_keys=true) }}`:        `{"a": "é", "b": [1, 2.0, {}]}`,
		`{{ tools[0] | tojson(ensure_ascii=true) }}`:     `{"b": [1, 2.0, {}], "a": "\u00e9"}`,
		`{{ tools[0] | tojson(indent=2) }}`:              "{\n  \"b\": [\n    1,\n    2.0,\n    {}\n  ],\n  \"a\": \"é\"\n}",
		`{{ tools[0].a | tojson }}`:                      `"é"`,
	} {
		tmpl, err := Parse(src, Tokens{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(Chat{Messages: []Message{{Role: "user"}}, Tools: []json.RawMessage{json.RawMessage(`{"b": [1, 2.0, {}], "a": "é"}`)}})
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", src, got, err, want)
		}
	}
}

// FuzzJinja: compiling and rendering arbitrary template sources (from
// the well-known ones) and tool call arguments never panics.
func FuzzJinja(f *testing.F) {
	for _, name := range []string{"chatml", "llama3.1-tools", "mistral-v3-tools", "qwen3-tools", "gemma3"} {
		src, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src), "hi", `{"a": 1}`)
	}
	f.Add("{{ messages[0].content | tojson(indent=2) }}", "x", `{}`)
	f.Fuzz(func(t *testing.T, src, content, args string) {
		tmpl, err := Parse(src, Tokens{BOS: "<s>", EOS: "</s>"})
		if err != nil {
			return
		}
		c := Chat{Messages: []Message{
			{Role: RoleUser, Content: content},
			{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "abcdefghi", Name: "f", Arguments: json.RawMessage(args)}}},
		}, Tools: []json.RawMessage{json.RawMessage(`{"type": "function", "function": {"name": "f"}}`)}, AddGenerationPrompt: true}
		tmpl.Render(c)
	})
}
