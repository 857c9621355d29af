package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/vkinfer/vkinfer/ipc"
)

// TestForcedToolCall: tool_choice "required" or a named function makes
// the reply one call in the model's tool-call format (Qwen's
// <tool_call>, Llama 3.1's object, Mistral's array), which the daemon
// parses into tool_calls whose arguments fit the tool's parameters, for
// every seed, even on a model with random weights.
func TestForcedToolCall(t *testing.T) {
	models := t.TempDir()
	families := []string{"qwen2.5-tools", "llama3.1-tools", "mistral-v3-tools"}
	for _, tmpl := range families {
		withTemplate(t, models, "stories-"+tmpl, "llama/stories260K.gguf", tmpl)
	}
	d := startDaemon(t, models, socketPath(t), "--device", "cpu")
	c := d.client()
	tools := []ipc.JSON{
		ipc.JSON(`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"enum":["Paris","Oslo"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}}}`),
		ipc.JSON(`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}},"required":["zone"],"additionalProperties":false}}}`),
	}
	for _, tmpl := range families {
		for _, force := range []string{"", "get_time"} {
			for seed := range uint64(4) {
				temp := 1.0
				req := &ipc.Request{Model: "stories-" + tmpl, Tools: tools, MaxTokens: 200,
					Messages: []ipc.Message{{Role: "user", Content: "What time is it?"}},
					Options:  &ipc.Options{Temperature: &temp, Seed: &seed}}
				req.ToolChoice, req.ToolChoiceFunction = "required", ""
				if force != "" {
					req.ToolChoice, req.ToolChoiceFunction = "function", force
				}
				s, err := c.Generate(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				_, _, st, err := drain(s)
				if err != nil {
					t.Fatalf("%s, force %q, seed %d: %v", tmpl, force, seed, err)
				}
				if st.StopReason != "eog" || len(st.ToolCalls) != 1 {
					t.Fatalf("%s, force %q, seed %d: stop %q, calls %+v, content %q", tmpl, force, seed, st.StopReason, st.ToolCalls, st.Content)
				}
				call := st.ToolCalls[0].Function
				var args map[string]any
				if err := json.Unmarshal(call.Arguments, &args); err != nil {
					t.Fatalf("%s: arguments %s: %v", tmpl, call.Arguments, err)
				}
				switch {
				case force != "" && call.Name != force:
					t.Errorf("%s: forced %q, called %q", tmpl, force, call.Name)
				case call.Name == "get_time" && args["zone"] != "UTC" && args["zone"] != "CET":
					t.Errorf("%s: get_time(%s)", tmpl, call.Arguments)
				case call.Name == "get_weather" && (args["city"] == nil || args["days"] == nil):
					t.Errorf("%s: get_weather(%s)", tmpl, call.Arguments)
				case call.Name != "get_time" && call.Name != "get_weather":
					t.Errorf("%s: called %q", tmpl, call.Name)
				}
			}
		}
	}
}
