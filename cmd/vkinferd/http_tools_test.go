package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vkinfer/vkinfer/ipc"
)

// httpSchema is bounded (enums, a bounded integer) so that stories260K's
// constrained output always ends well within max_tokens.
const httpSchema = `{"type":"object","properties":{"size":{"enum":["small","large"]},"n":{"type":"integer","minimum":0,"maximum":9}},` +
	`"required":["size","n"],"additionalProperties":false}`

// compileSchema compiles a JSON schema text with the validator the tests
// share.
func compileSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("mem://s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := comp.Compile("mem://s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validates reports whether text is JSON valid against s.
func validates(s *jsonschema.Schema, text string) error {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestHTTPStructuredOutput: through the OpenAI SDK, response_format
// json_schema output validates for every seed, json_object output is
// JSON and a grammar's output is one of its sentences; through Ollama's API, format "json" and a schema object do the
// same, streamed and not.
func TestHTTPStructuredOutput(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	oa := d.openAI()
	val := compileSchema(t, httpSchema)
	ctx := context.Background()
	for seed := range int64(4) {
		resp, err := oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:       chatModel,
			Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Pick a size.")},
			MaxTokens:   openai.Int(100),
			Temperature: openai.Float(1),
			Seed:        openai.Int(seed),
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "pick", Schema: json.RawMessage(httpSchema)}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		out := resp.Choices[0].Message.Content
		if err := validates(val, out); err != nil || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("json_schema, seed %d: %q (%s): %v", seed, out, resp.Choices[0].FinishReason, err)
		}
		resp, err = oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:          chatModel,
			Messages:       []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say it in JSON.")},
			MaxTokens:      openai.Int(300),
			Temperature:    openai.Float(1),
			Seed:           openai.Int(seed),
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if out := resp.Choices[0].Message.Content; resp.Choices[0].FinishReason != "stop" || !json.Valid([]byte(out)) {
			t.Errorf("json_object, seed %d: %q (%s) is not JSON", seed, out, resp.Choices[0].FinishReason)
		}
		// llama-server's grammar extension, sent as an extra field.
		comp, err := oa.Completions.New(ctx, openai.CompletionNewParams{
			Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens: openai.Int(8), Temperature: openai.Float(1), Seed: openai.Int(seed),
		}, option.WithJSONSet("grammar", `root ::= "yes" | "no"`))
		if err != nil {
			t.Fatal(err)
		}
		if out := comp.Choices[0].Text; out != "yes" && out != "no" {
			t.Errorf("grammar, seed %d: %q", seed, out)
		}
	}

	for _, tc := range []struct{ name, format, schema string }{
		{"json", `"json"`, `{}`},
		{"schema", httpSchema, httpSchema},
	} {
		v := compileSchema(t, tc.schema)
		for _, stream := range []bool{false, true} {
			body := fmt.Sprintf(`{"model":%q,"stream":%v,"format":%s,"messages":[{"role":"user","content":"Pick."}],"options":{"temperature":1,"seed":3,"num_predict":300}}`,
				chatModel, stream, tc.format)
			code, reply := d.post("/api/chat", body)
			var text strings.Builder
			var last struct {
				Message    struct{ Content string }
				Done       bool
				DoneReason string `json:"done_reason"`
			}
			for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
				if err := json.Unmarshal([]byte(line), &last); err != nil {
					t.Fatalf("%s: %q: %v", tc.name, line, err)
				}
				text.WriteString(last.Message.Content)
			}
			if code != 200 || !last.Done || last.DoneReason != "stop" {
				t.Errorf("ollama format %s, stream %v: %d %s", tc.name, stream, code, reply)
				continue
			}
			if err := validates(v, text.String()); err != nil {
				t.Errorf("ollama format %s, stream %v: %q: %v", tc.name, stream, text.String(), err)
			}
		}
	}
}

// TestHTTPForcedToolCall: the OpenAI SDK forces a call with tool_choice
// on a model whose template has Qwen's call format, and reads it back as
// tool_calls (arguments a JSON string fitting the parameters), streamed
// and not; the call goes back as an assistant turn with a tool answer.
// Ollama's tools, calls and tool turns render as the msgpack ones do.
func TestHTTPForcedToolCall(t *testing.T) {
	models := httpModelsDir(t)
	const model = "stories-qwen2.5-tools"
	withTemplate(t, models, model, "llama/stories260K.gguf", "qwen2.5-tools")
	d := startDaemon(t, models, socketPath(t), "--device", "cpu")
	oa := d.openAI()
	ctx := context.Background()
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: shared.FunctionParameters{
			"type": "object", "properties": map[string]any{"city": map[string]any{"enum": []string{"Paris", "Oslo"}}, "days": map[string]any{"type": "integer", "minimum": 1, "maximum": 7}},
			"required": []string{"city", "days"}, "additionalProperties": false}}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: shared.FunctionParameters{
			"type": "object", "properties": map[string]any{"zone": map[string]any{"enum": []string{"UTC", "CET"}}}, "required": []string{"zone"}, "additionalProperties": false}}),
	}
	check := func(what string, calls []openai.ChatCompletionMessageToolCallUnion, reason string) {
		t.Helper()
		if len(calls) != 1 || reason != "tool_calls" {
			t.Fatalf("%s: %d calls, finish %q", what, len(calls), reason)
		}
		c := calls[0]
		var args struct {
			City string
			Days int
		}
		if err := json.Unmarshal([]byte(c.Function.Arguments), &args); err != nil || c.Type != "function" || c.ID == "" ||
			c.Function.Name != "get_weather" || (args.City != "Paris" && args.City != "Oslo") || args.Days < 1 || args.Days > 7 {
			t.Errorf("%s: call %+v (%v)", what, c, err)
		}
	}
	for seed := range int64(3) {
		params := openai.ChatCompletionNewParams{
			Model:       model,
			Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			MaxTokens:   openai.Int(200),
			Temperature: openai.Float(1),
			Seed:        openai.Int(seed),
			Tools:       tools,
			ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
				Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}}},
		}
		resp, err := oa.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("seed %d", seed), resp.Choices[0].Message.ToolCalls, resp.Choices[0].FinishReason)
		if resp.Choices[0].Message.Content != "" {
			t.Errorf("seed %d: content %q beside the call", seed, resp.Choices[0].Message.Content)
		}

		stream := oa.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("seed %d, streamed", seed), acc.Choices[0].Message.ToolCalls, acc.Choices[0].FinishReason)
		if got, want := acc.Choices[0].Message.ToolCalls[0].Function, resp.Choices[0].Message.ToolCalls[0].Function; got.Name != want.Name || got.Arguments != want.Arguments {
			t.Errorf("seed %d: streamed call %+v, not %+v", seed, got, want)
		}

		// The call and its answer go back as the conversation's next turns.
		call := resp.Choices[0].Message.ToolCalls[0]
		next := params
		next.Messages = append(slices.Clone(params.Messages), resp.Choices[0].Message.ToParam(), openai.ToolMessage("sunny", call.ID))
		next.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		next.MaxTokens = openai.Int(8)
		if _, err := oa.Chat.Completions.New(ctx, next); err != nil {
			t.Errorf("seed %d: answering the call: %v", seed, err)
		}
	}

	// Ollama's shapes reach the template as the msgpack ones do: the
	// prompt of a conversation with tools, a call (arguments an object)
	// and its answer counts the tokens tokenize gives for it.
	const tool = `{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"enum":["UTC","CET"]}}}}}`
	code, body := d.post("/api/chat", `{"model":"`+model+`","stream":false,"tools":[`+tool+`],"options":{"temperature":0,"num_predict":4},"messages":[`+
		`{"role":"user","content":"Time?"},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_time","arguments":{"zone":"UTC"}}}]},`+
		`{"role":"tool","content":"12:00","tool_name":"get_time"}]}`)
	var reply struct {
		PromptEvalCount int `json:"prompt_eval_count"`
	}
	if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil {
		t.Fatalf("ollama chat with tools: %d %s", code, body)
	}
	ids, err := d.client().Tokenize(ctx, &ipc.Request{Model: model, Tools: []ipc.JSON{ipc.JSON(tool)}, Messages: []ipc.Message{
		{Role: "user", Content: "Time?"},
		{Role: "assistant", ToolCalls: []ipc.ToolCall{{Type: "function", Function: ipc.ToolFunction{Name: "get_time", Arguments: ipc.JSON(`{"zone":"UTC"}`)}}}},
		{Role: "tool", Content: "12:00", Name: "get_time"}}})
	if err != nil || reply.PromptEvalCount != len(ids) {
		t.Errorf("ollama chat with tools: %d prompt tokens, tokenize gives %d (%v)", reply.PromptEvalCount, len(ids), err)
	}
}

// TestHTTPLogprobs: logprobs in chat (streamed and not), legacy
// completions and Ollama: one entry per generated token, the tokens'
// text the output, and for greedy decoding the first alternative the
// chosen token with the same logprob.
func TestHTTPLogprobs(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	oa := d.openAI()
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:       chatModel,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time")},
		MaxTokens:   openai.Int(16),
		Temperature: openai.Float(0),
		Logprobs:    openai.Bool(true),
		TopLogprobs: openai.Int(3),
	}
	resp, err := oa.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	lps := resp.Choices[0].Logprobs.Content
	var text strings.Builder
	for i, lp := range lps {
		text.WriteString(lp.Token)
		if len(lp.TopLogprobs) != 3 || lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob ||
			lp.Logprob > 0 || lp.TopLogprobs[1].Logprob > lp.Logprob || string(bytesOf(lp.Bytes)) != lp.Token {
			t.Errorf("chat token %d: %+v", i, lp)
		}
	}
	if int64(len(lps)) != resp.Usage.CompletionTokens || text.String() != resp.Choices[0].Message.Content {
		t.Errorf("chat: %d logprobs for %d tokens; their text %q, content %q", len(lps), resp.Usage.CompletionTokens, text.String(), resp.Choices[0].Message.Content)
	}

	stream := oa.Chat.Completions.NewStreaming(ctx, params)
	var streamed []openai.ChatCompletionTokenLogprob
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			streamed = append(streamed, c.Choices[0].Logprobs.Content...)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(streamed) != len(lps) {
		t.Fatalf("streamed %d logprobs, not %d", len(streamed), len(lps))
	}
	for i := range lps {
		if streamed[i].Token != lps[i].Token || streamed[i].Logprob != lps[i].Logprob {
			t.Errorf("streamed token %d: %+v, not %+v", i, streamed[i], lps[i])
		}
	}

	comp, err := oa.Completions.New(ctx, openai.CompletionNewParams{
		Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(16), Temperature: openai.Float(0), Logprobs: openai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	clp := comp.Choices[0].Logprobs
	offset := 0
	for i, tok := range clp.Tokens {
		if top := clp.TopLogprobs[i]; len(top) != 2 || top[tok] != clp.TokenLogprobs[i] || clp.TextOffset[i] != int64(offset) {
			t.Errorf("completion token %d %q: logprob %v, top %v, offset %d (want %d)", i, tok, clp.TokenLogprobs[i], top, clp.TextOffset[i], offset)
		}
		offset += len(tok)
	}
	if len(clp.Tokens) != 16 || strings.Join(clp.Tokens, "") != comp.Choices[0].Text || comp.Choices[0].Text != referenceText(t, 16) {
		t.Errorf("completion: tokens %q, text %q", clp.Tokens, comp.Choices[0].Text)
	}

	code, body := d.post("/api/generate", `{"model":"stories260K","prompt":"Once upon a time","raw":true,"stream":false,"logprobs":true,"top_logprobs":1,"options":{"temperature":0,"num_predict":16}}`)
	var gen struct {
		Response string
		Logprobs []struct {
			Token       string
			Logprob     float64
			TopLogprobs []struct {
				Token   string
				Logprob float64
			} `json:"top_logprobs"`
		}
	}
	if err := json.Unmarshal([]byte(body), &gen); code != 200 || err != nil || len(gen.Logprobs) != 16 {
		t.Fatalf("ollama generate: %d %s", code, body)
	}
	text.Reset()
	for i, lp := range gen.Logprobs {
		text.WriteString(lp.Token)
		if len(lp.TopLogprobs) != 1 || lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob || lp.Logprob != clp.TokenLogprobs[i] {
			t.Errorf("ollama token %d: %+v (completions: %v)", i, lp, clp.TokenLogprobs[i])
		}
	}
	if text.String() != gen.Response {
		t.Errorf("ollama: tokens %q, response %q", text.String(), gen.Response)
	}
}

func bytesOf(b []int64) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = byte(c)
	}
	return out
}

// TestHTTPTokenize: /tokenize and /detokenize (llama-server's shapes)
// answer as the msgpack ops do, from the tokenizer alone, and round-trip.
func TestHTTPTokenize(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	c := d.client()
	const text = "Once upon a time, there was a cat."
	for _, add := range []bool{false, true} {
		want, err := c.Tokenize(context.Background(), &ipc.Request{Model: "stories260K", Prompt: text, AddSpecial: &add})
		if err != nil {
			t.Fatal(err)
		}
		code, body := d.post("/tokenize", fmt.Sprintf(`{"model":"stories260K:latest","content":%q,"add_special":%v}`, text, add))
		var tok struct{ Tokens []int32 }
		if err := json.Unmarshal([]byte(body), &tok); code != 200 || err != nil || !slices.Equal(tok.Tokens, want) {
			t.Fatalf("tokenize, add_special %v: %d %s; want %v", add, code, body, want)
		}
		wantText, err := c.Detokenize(context.Background(), "stories260K", want)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := json.Marshal(tok.Tokens)
		code, body = d.post("/detokenize", `{"model":"stories260K","tokens":`+string(ids)+`}`)
		var detok struct{ Content string }
		if err := json.Unmarshal([]byte(body), &detok); code != 200 || err != nil || detok.Content != wantText {
			t.Fatalf("detokenize: %d %s; want %q", code, body, wantText)
		}
		// The text detokenize gives tokenizes to the same ids again.
		code, body = d.post("/tokenize", fmt.Sprintf(`{"model":"stories260K","content":%q}`, strings.TrimPrefix(detok.Content, " ")))
		if err := json.Unmarshal([]byte(body), &tok); !add && (code != 200 || err != nil || !slices.Equal(tok.Tokens, want)) {
			t.Errorf("round trip of %q: %d %s; want %v", detok.Content, code, body, want)
		}
	}
	models, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		if m.Loaded {
			t.Errorf("tokenize loaded %s", m.Name)
		}
	}
	for _, tc := range []struct{ path, body, msg string }{
		{"/tokenize", `{"content":"x"}`, "model is required"},
		{"/tokenize", `{"model":"stories260K","content":"x","with_pieces":true}`, "with_pieces is not implemented"},
		{"/detokenize", `{"model":"stories260K","tokens":[100000]}`, "not in the vocabulary"},
		{"/tokenize", `{"model":"nope","content":"x"}`, "nope"},
	} {
		code, body := d.post(tc.path, tc.body)
		if code/100 != 4 || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: %d %s", tc.path, tc.body, code, body)
		}
	}
}
