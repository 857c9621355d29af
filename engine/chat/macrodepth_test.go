package chat

import (
	"errors"
	"strings"
	"testing"
)

// The wanted texts are python3-jinja2's, configured as transformers
// configures it (trim_blocks, lstrip_blocks): the depth counter wrapped
// around macro bodies must not change a byte of what they render.
func TestMacroDepthKeepsText(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"plain tags", "{% macro greet(name) %}\nHello {{ name }}!\n{% endmacro %}\n{{ greet(messages[0].content) }}|", "Hello hi!\n|"},
		{"trimmed both sides", "{%- macro greet(name) -%}\n   Hello {{ name }}!  \n{%- endmacro -%}\n[{{ greet(messages[0].content) }}]", "[Hello hi!]"},
		{"trimmed after the opening tag", "{% macro greet(name) -%}\n  Hello {{ name }}!\n  {% endmacro %}\n[{{ greet(messages[0].content) }}]", "[Hello hi!\n]"},
		{"recursion 20 deep", "{% macro depth(n) %}{% if n > 0 %}({{ depth(n - 1) }}){% else %}{{ messages[0].content }}{% endif %}{% endmacro %}{{ depth(20) }}", "((((((((((((((((((((hi))))))))))))))))))))"},
		{"schema type, as tool templates write it", "{%- macro ty(s) -%}\n    {%- if s.type == 'array' -%}\n        list[{{ ty(s['items']) }}]\n    {%- else -%}\n        {{ s.type }}\n    {%- endif -%}\n{%- endmacro -%}\n{{ ty({'type': 'array', 'items': {'type': 'array', 'items': {'type': 'string'} } }) }}", "list[list[string]]"},
	} {
		tmpl, err := Parse(tc.src, Tokens{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := tmpl.Render(Chat{Messages: []Message{{Role: RoleUser, Content: "hi"}}})
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

// A macro that calls itself without end would overflow the Go stack,
// which kills the process; it must fail the one render instead, and the
// template must still render a conversation that stops in time.
func TestMacroDepthStopsRecursion(t *testing.T) {
	tmpl, err := Parse("{% macro f(n) %}{% if n != messages|length %}{{ f(n + 1) }}{% endif %}{% endmacro %}[{{ f(0) }}]", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	// f recurses once per message.
	if got, err := tmpl.Render(Chat{Messages: []Message{{Role: RoleUser, Content: "hi"}}}); err != nil || got != "[]" {
		t.Fatalf("bounded recursion: %q %v", got, err)
	}
	endless, err := Parse("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Tokens{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the count starts again with each render
		_, err = endless.Render(Chat{Messages: []Message{{Role: RoleUser, Content: "hi"}}})
		if !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), "more than 400 calls deep") {
			t.Fatalf("endless recursion: %v", err)
		}
	}
	if got, err := tmpl.Render(Chat{Messages: []Message{{Role: RoleUser, Content: "a"}, {Role: RoleAssistant, Content: "b"}}}); err != nil || got != "[]" {
		t.Fatalf("after a refused render: %q %v", got, err)
	}
}
