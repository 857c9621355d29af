package httpapi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

func ptr[T any](v T) *T { return &v }

// TestTranslate: each dialect's body becomes exactly the ipc.Request the
// msgpack client would send for it.
func TestTranslate(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		body string
		tr   func(body []byte) (*ipc.Request, error)
		want *ipc.Request
	}{
		{"openai completion", `{"model":"m","prompt":"Once","max_tokens":7,"temperature":0,"top_p":0.9,"top_k":40,"min_p":0.05,"repeat_penalty":1.1,"presence_penalty":0.5,"frequency_penalty":0.25,"seed":42,"stop":"\n","n":1,"user":"ignored"}`,
			completion, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "Once", MaxTokens: 7, Stop: []string{"\n"}, Stream: &no,
				Options: &ipc.Options{Temperature: ptr(0.0), TopP: ptr(0.9), TopK: ptr(40), MinP: ptr(0.05), RepeatPenalty: ptr(1.1), PresencePenalty: ptr(0.5), FrequencyPenalty: ptr(0.25), Seed: ptr(uint64(42))}}},
		{"openai completion, prompt array of one, negative seed", `{"model":"m","prompt":["Once"],"stream":true,"seed":-1}`,
			completion, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "Once", Stream: &yes}},
		{"openai chat", `{"model":"m","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]},{"role":"assistant","content":"Hello"}],"max_tokens":3,"max_completion_tokens":5,"stop":["a","b"],"tool_choice":"none","response_format":{"type":"text"}}`,
			openAIChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", MaxTokens: 5, Stop: []string{"a", "b"}, Stream: &no,
				Messages: []ipc.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi there"}, {Role: "assistant", Content: "Hello"}}}},
		{"openai chat, tools, calls and tool turns", `{"model":"m","messages":[{"role":"user","content":"Weather?"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"days\": 2}"}}]},` +
			`{"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"sunny"}],` +
			`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"z":{},"a":{}}}}}],` +
			`"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`,
			openAIChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Stream: &no,
				Tools:      []ipc.JSON{ipc.JSON(`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"z":{},"a":{}}}}}`)},
				ToolChoice: "function", ToolChoiceFunction: "get_weather",
				Messages: []ipc.Message{{Role: "user", Content: "Weather?"},
					{Role: "assistant", ToolCalls: []ipc.ToolCall{{ID: "call_1", Type: "function", Function: ipc.ToolFunction{Name: "get_weather", Arguments: ipc.JSON(`{"city": "Paris", "days": 2}`)}}}},
					{Role: "tool", Content: "sunny", ToolCallID: "call_1", Name: "get_weather"}}}},
		{"openai chat, required, json schema (key order kept), logprobs", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required",` +
			`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"b":{},"a":{}}}}},"logprobs":true,"top_logprobs":3}`,
			openAIChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Stream: &no, Messages: []ipc.Message{{Role: "user", Content: "x"}},
				Tools: []ipc.JSON{ipc.JSON(`{"type":"function","function":{"name":"f"}}`)}, ToolChoice: "required",
				Format: `{"type":"object","properties":{"b":{},"a":{}}}`, Logprobs: true, TopLogprobs: 3}},
		{"openai chat, json object", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"},"logprobs":false}`,
			openAIChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Stream: &no, Messages: []ipc.Message{{Role: "user", Content: "x"}}, Format: "json"}},
		{"openai completion, logprobs", `{"model":"m","prompt":"x","logprobs":2}`,
			completion, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "x", Stream: &no, Logprobs: true, TopLogprobs: 2}},
		{"openai completion, grammar", `{"model":"m","prompt":"x","grammar":"root ::= \"yes\" | \"no\""}`,
			completion, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "x", Stream: &no, Grammar: `root ::= "yes" | "no"`}},
		{"openai completion, logprobs 0: the chosen tokens only", `{"model":"m","prompt":"x","logprobs":0}`,
			completion, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "x", Stream: &no, Logprobs: true}},
		{"openai embeddings", `{"model":"e","input":["a","b"],"dimensions":64,"encoding_format":"base64"}`,
			openAIEmbed, &ipc.Request{Op: ipc.OpEmbed, Model: "e", Input: []string{"a", "b"}, Dimensions: 64}},
		{"ollama generate", `{"model":"m:latest","prompt":"Hi","system":"Be brief.","stream":false,"keep_alive":"5m","options":{"num_predict":9,"temperature":0.7,"top_k":20,"repeat_last_n":32,"seed":7,"stop":["x"]}}`,
			ollamaGenerate, &ipc.Request{Op: ipc.OpGenerate, Model: "m:latest", MaxTokens: 9, Stop: []string{"x"}, Stream: &no,
				Messages: []ipc.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}},
				Options:  &ipc.Options{Temperature: ptr(0.7), TopK: ptr(20), RepeatLastN: ptr(32), Seed: ptr(uint64(7))}}},
		{"ollama generate raw, unlimited", `{"model":"m","prompt":"Hi","raw":true,"options":{"num_predict":-1}}`,
			ollamaGenerate, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "Hi", Stream: &yes}},
		{"ollama num_ctx", `{"model":"m","prompt":"Hi","raw":true,"options":{"num_ctx":256}}`,
			ollamaGenerate, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "Hi", Stream: &yes, Options: &ipc.Options{ContextSize: ptr(256)}}},
		{"ollama chat", `{"model":"m","messages":[{"role":"user","content":"Hi"}],"options":{"min_p":0.1}}`,
			ollamaChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Stream: &yes, Messages: []ipc.Message{{Role: "user", Content: "Hi"}}, Options: &ipc.Options{MinP: ptr(0.1)}}},
		{"ollama generate, format json, logprobs", `{"model":"m","prompt":"Hi","raw":true,"format":"json","logprobs":true,"top_logprobs":2}`,
			ollamaGenerate, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Prompt: "Hi", Stream: &yes, Format: "json", Logprobs: true, TopLogprobs: 2}},
		{"ollama chat, schema, tools, calls", `{"model":"m","format":{"type":"object","properties":{"y":{},"x":{}}},` +
			`"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"b":1,"a":2.5}}}]},{"role":"tool","content":"3","tool_name":"f"}],` +
			`"tools":[{"type":"function","function":{"name":"f"}}]}`,
			ollamaChat, &ipc.Request{Op: ipc.OpGenerate, Model: "m", Stream: &yes, Format: `{"type":"object","properties":{"y":{},"x":{}}}`,
				Tools: []ipc.JSON{ipc.JSON(`{"type":"function","function":{"name":"f"}}`)},
				Messages: []ipc.Message{{Role: "user", Content: "Hi"},
					{Role: "assistant", ToolCalls: []ipc.ToolCall{{Type: "function", Function: ipc.ToolFunction{Name: "f", Arguments: ipc.JSON(`{"b":1,"a":2.5}`)}}}},
					{Role: "tool", Content: "3", Name: "f"}}}},
		{"ollama embed", `{"model":"e","input":"a"}`,
			ollamaEmbed, &ipc.Request{Op: ipc.OpEmbed, Model: "e", Input: []string{"a"}, Truncate: true}},
		{"ollama embed, no truncation", `{"model":"e","input":["a"],"truncate":false,"dimensions":8}`,
			ollamaEmbed, &ipc.Request{Op: ipc.OpEmbed, Model: "e", Input: []string{"a"}, Dimensions: 8}},
	} {
		got, err := tc.tr([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v (options %+v)\nwant %+v (options %+v)", tc.name, got, got.Options, tc.want, tc.want.Options)
		}
	}
}

func completion(b []byte) (*ipc.Request, error) {
	var r completionRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

func openAIChat(b []byte) (*ipc.Request, error) {
	var r chatCompletionRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

func openAIEmbed(b []byte) (*ipc.Request, error) {
	var r embeddingRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

func ollamaGenerate(b []byte) (*ipc.Request, error) {
	var r ollamaGenerateRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

func ollamaChat(b []byte) (*ipc.Request, error) {
	var r ollamaChatRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

func ollamaEmbed(b []byte) (*ipc.Request, error) {
	var r ollamaEmbedRequest
	if err := decodeJSON(b, &r); err != nil {
		return nil, err
	}
	return r.request()
}

// TestTranslateErrors: what cannot be served is refused by name.
func TestTranslateErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		tr         func([]byte) (*ipc.Request, error)
		code, msg  string
	}{
		{"n=3", `{"model":"m","prompt":"x","n":3}`, completion, ipc.CodeBadRequest, "n=3 is not supported"},
		{"token prompt", `{"model":"m","prompt":[1,2,3]}`, completion, ipc.CodeBadRequest, "token-id prompts are not implemented"},
		{"two prompts", `{"model":"m","prompt":["a","b"]}`, completion, ipc.CodeBadRequest, "holds 2 prompts"},
		{"no model", `{"prompt":"x"}`, completion, ipc.CodeBadRequest, "model is required"},
		{"negative max_tokens", `{"model":"m","prompt":"x","max_tokens":-1}`, completion, ipc.CodeBadRequest, "max_tokens -1 must be >= 0"},
		{"logprobs type", `{"model":"m","prompt":"x","logprobs":true}`, completion, ipc.CodeBadRequest, `field "logprobs"`},
		{"top_logprobs alone", `{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}`, openAIChat, ipc.CodeBadRequest, "top_logprobs needs logprobs: true"},
		{"logit_bias", `{"model":"m","prompt":"x","logit_bias":{"1":5}}`, completion, ipc.CodeBadRequest, "logit_bias is not implemented"},
		{"echo", `{"model":"m","prompt":"x","echo":true}`, completion, ipc.CodeBadRequest, "echo is not implemented"},
		{"stop type", `{"model":"m","prompt":"x","stop":5}`, completion, ipc.CodeBadRequest, "want a string or an array of strings"},
		{"temperature type", `{"model":"m","prompt":"x","temperature":"hot"}`, completion, ipc.CodeBadRequest, `field "temperature": want a number, got string`},
		{"messages type", `{"model":"m","messages":"hi"}`, openAIChat, ipc.CodeBadRequest, `field "messages": want an array, got string`},
		{"stream type", `{"model":"m","prompt":"x","stream":"yes"}`, completion, ipc.CodeBadRequest, `field "stream": want a boolean, got string`},
		{"trailing data", `{"model":"m","prompt":"x"} {}`, completion, ipc.CodeMalformed, "data after the object"},
		{"not an object", `[1]`, completion, ipc.CodeBadRequest, "must be a JSON object"},
		{"truncated", `{"model":"m","prompt":"x`, completion, ipc.CodeMalformed, "malformed JSON"},
		{"empty", ` `, completion, ipc.CodeBadRequest, "the body is empty"},
		{"no messages", `{"model":"m","messages":[]}`, openAIChat, ipc.CodeBadRequest, "messages must hold at least one message"},
		{"tool role without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, openAIChat, ipc.CodeBadRequest, "a tool message needs tool_call_id"},
		{"function role", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, openAIChat, ipc.CodeBadRequest, `role "function" (the deprecated functions API) is not implemented`},
		{"functions", `{"model":"m","messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`, openAIChat, ipc.CodeBadRequest, "functions is not implemented"},
		{"call arguments", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, openAIChat, ipc.CodeBadRequest, "messages[0].tool_calls[0].function.arguments: want a JSON object"},
		{"call without name", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"arguments":"{}"}}]}]}`, openAIChat, ipc.CodeBadRequest, "messages[0].tool_calls[0].function.name is required"},
		{"user calls", `{"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, openAIChat, ipc.CodeBadRequest, "only assistant messages carry tool_calls"},
		{"tool_choice word", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"always"}`, openAIChat, ipc.CodeBadRequest, `"always": want auto, none, required`},
		{"tool_choice map", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function"}}`, openAIChat, ipc.CodeBadRequest, "want auto, none, required"},
		{"tool not an object", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":["f"]}`, openAIChat, ipc.CodeBadRequest, "tools[0] must be an object"},
		{"schema missing", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s"}}}`, openAIChat, ipc.CodeBadRequest, "needs json_schema.schema"},
		{"format type", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, openAIChat, ipc.CodeBadRequest, `response_format type "xml"`},
		{"image part", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, openAIChat, ipc.CodeBadRequest, `content parts of type "image_url"`},
		{"bad role", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, openAIChat, ipc.CodeBadRequest, `unknown role "wizard"`},
		{"encoding", `{"model":"e","input":"a","encoding_format":"int8"}`, openAIEmbed, ipc.CodeBadRequest, `encoding_format "int8"`},
		{"empty input", `{"model":"e","input":[]}`, openAIEmbed, ipc.CodeBadRequest, "at least one string"},
		{"ollama option", `{"model":"m","prompt":"x","options":{"num_gpu":1}}`, ollamaGenerate, ipc.CodeBadRequest, `option "num_gpu" is not implemented`},
		{"ollama format", `{"model":"m","prompt":"x","format":"yaml"}`, ollamaGenerate, ipc.CodeBadRequest, `format must be "json" or a JSON schema object`},
		{"ollama think", `{"model":"m","prompt":"x","think":true}`, ollamaGenerate, ipc.CodeBadRequest, "think is not implemented"},
		{"ollama top_logprobs alone", `{"model":"m","prompt":"x","top_logprobs":1}`, ollamaGenerate, ipc.CodeBadRequest, "top_logprobs needs logprobs: true"},
		{"ollama call arguments", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":3}}]}]}`, ollamaChat, ipc.CodeBadRequest, "messages[0].tool_calls[0].function.arguments: want a JSON object"},
		{"ollama images", `{"model":"m","prompt":"x","images":["aGk="]}`, ollamaGenerate, ipc.CodeBadRequest, "images is not implemented"},
		{"ollama raw system", `{"model":"m","prompt":"x","raw":true,"system":"s"}`, ollamaGenerate, ipc.CodeBadRequest, "system is not used with raw"},
		{"ollama keep_alive type", `{"model":"m","prompt":"x","keep_alive":true}`, ollamaGenerate, ipc.CodeBadRequest, "want a duration"},
		{"ollama tools", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[1]}`, ollamaChat, ipc.CodeBadRequest, "tools[0] must be an object"},
		{"ollama embed option", `{"model":"e","input":"a","options":{"num_ctx":1}}`, ollamaEmbed, ipc.CodeBadRequest, `option "num_ctx" is not implemented for embeddings`},
	} {
		_, err := tc.tr([]byte(tc.body))
		if ipc.CodeOf(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
}

func TestStemOf(t *testing.T) {
	for in, want := range map[string]string{
		"stories260K":             "stories260K",
		"stories260K:latest":      "stories260K",
		"all-MiniLM-L6-v2:Q4_K_M": "all-MiniLM-L6-v2-Q4_K_M",
		"a:b:c":                   "a:b-c",
	} {
		if got := stemOf(in); got != want {
			t.Errorf("stemOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	for _, tc := range []struct {
		json   string
		unload bool
		keep   *time.Duration
		err    bool
	}{
		{`0`, true, dur(0), false}, {`"0"`, true, dur(0), false}, {`"0s"`, true, dur(0), false},
		{`300`, false, dur(5 * time.Minute), false}, {`"5m"`, false, dur(5 * time.Minute), false},
		{`null`, false, nil, false}, {`"1h"`, false, dur(time.Hour), false}, {`-1`, false, dur(-time.Second), false},
		{`"soon"`, false, nil, true},
	} {
		var k keepAlive
		err := k.UnmarshalJSON([]byte(tc.json))
		unload, keep := k.unloadAfter(), k.duration()
		if unload != tc.unload || (err != nil) != tc.err || (keep == nil) != (tc.keep == nil) || keep != nil && *keep != *tc.keep {
			t.Errorf("keep_alive %s: unload %v, keep %v, err %v", tc.json, unload, keep, err)
		}
	}
}
