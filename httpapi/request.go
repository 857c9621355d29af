package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

// This file is the one place the dialects' JSON becomes ipc.Requests:
// fields the msgpack protocol lacks are refused here, by name.

// sampling holds the sampling parameters both dialects carry; nil keeps
// the daemon's default.
type sampling struct {
	Temperature      *float64
	TopK             *int
	TopP             *float64
	MinP             *float64
	RepeatPenalty    *float64
	RepeatLastN      *int
	PresencePenalty  *float64
	FrequencyPenalty *float64
	// Seed < 0 (as both dialects spell "random") is a new seed per request.
	Seed *int64
}

// options returns the ipc options, nil when nothing is set.
func (s sampling) options() *ipc.Options {
	o := &ipc.Options{Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP, MinP: s.MinP,
		RepeatPenalty: s.RepeatPenalty, RepeatLastN: s.RepeatLastN,
		PresencePenalty: s.PresencePenalty, FrequencyPenalty: s.FrequencyPenalty}
	if s.Seed != nil && *s.Seed >= 0 {
		seed := uint64(*s.Seed)
		o.Seed = &seed
	}
	if *o == (ipc.Options{}) {
		return nil
	}
	return o
}

// stringList is a JSON string or array of strings (OpenAI's stop and
// input, Ollama's input).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("want a string or an array of strings")
	}
	*l = ss
	return nil
}

// unsupported names the fields of a request that ask for something the
// daemon does not do yet; set reports whether a raw value asks for it.
type unsupported struct {
	name string
	raw  json.RawMessage
	// off lists the values that ask for nothing beyond the default.
	off []string
}

// refuse returns a bad_request naming the first field set to something
// the daemon does not implement.
func refuse(fields ...unsupported) error {
	for _, f := range fields {
		v := string(bytes.TrimSpace(f.raw))
		if v == "" || v == "null" || slices.Contains(f.off, compactJSON(f.raw)) {
			continue
		}
		return badRequest("%s is not implemented by vkinfer yet", f.name)
	}
	return nil
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// generation checks what every generate request needs, as the msgpack
// server does before calling the handler.
func generation(req *ipc.Request) (*ipc.Request, error) {
	req.Op = ipc.OpGenerate
	switch {
	case req.Model == "":
		return nil, badRequest("model is required")
	case req.Prompt == "" && len(req.Messages) == 0:
		return nil, badRequest("a prompt or messages are required")
	case req.MaxTokens < 0:
		return nil, badRequest("max_tokens %d must be >= 0", req.MaxTokens)
	}
	return req, nil
}

// embedding checks what every embed request needs.
func embedding(req *ipc.Request) (*ipc.Request, error) {
	req.Op = ipc.OpEmbed
	switch {
	case req.Model == "":
		return nil, badRequest("model is required")
	case len(req.Input) == 0:
		return nil, badRequest("input must hold at least one string")
	case req.Dimensions < 0:
		return nil, badRequest("dimensions %d must be >= 0", req.Dimensions)
	}
	return req, nil
}

// openAI content is a string or an array of parts, of which text parts are
// supported.
type openAIContent string

func (c *openAIContent) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*c = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = openAIContent(s)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("want a string or an array of content parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return ipc.Errorf(ipc.CodeBadRequest, "content parts of type %q are not implemented by vkinfer (text only)", p.Type)
		}
		sb.WriteString(p.Text)
	}
	*c = openAIContent(sb.String())
	return nil
}

type openAIMessage struct {
	Role       string           `json:"role"`
	Content    openAIContent    `json:"content"`
	ToolCalls  []openAIToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
	Name       string           `json:"name"`
}

// openAIToolCall is a call in an assistant turn: its arguments are a JSON
// string holding an object.
type openAIToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// toolCall translates an OpenAI call: the arguments' JSON string becomes
// the object it holds.
func (c openAIToolCall) toolCall(where string) (ipc.ToolCall, error) {
	if c.Type != "" && c.Type != "function" {
		return ipc.ToolCall{}, badRequest("%s.type %q: only function calls exist", where, c.Type)
	}
	if c.Function.Name == "" {
		return ipc.ToolCall{}, badRequest("%s.function.name is required", where)
	}
	args, err := arguments(c.Function.Arguments)
	if err != nil {
		return ipc.ToolCall{}, badRequest("%s.function.arguments: %v", where, err)
	}
	return ipc.ToolCall{ID: c.ID, Type: "function", Function: ipc.ToolFunction{Name: c.Function.Name, Arguments: args}}, nil
}

// arguments are a call's arguments as a JSON object: OpenAI writes them as
// a string holding one, Ollama as the object itself.
func arguments(raw json.RawMessage) (ipc.JSON, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = json.RawMessage(strings.TrimSpace(s))
		if len(raw) == 0 {
			raw = json.RawMessage("{}")
		}
	}
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, fmt.Errorf("want a JSON object (or a string holding one)")
	}
	return ipc.JSON(raw), nil
}

// tools checks a request's tools: each an object, passed to the template
// as it is.
func tools(raw []json.RawMessage) ([]ipc.JSON, error) {
	var out []ipc.JSON
	for i, t := range raw {
		t = bytes.TrimSpace(t)
		if len(t) == 0 || t[0] != '{' {
			return nil, badRequest("tools[%d] must be an object", i)
		}
		out = append(out, ipc.JSON(t))
	}
	return out, nil
}

// openAIToolChoice is "auto", "none", "required" or
// {"type": "function", "function": {"name": N}}.
type openAIToolChoice struct {
	choice, function string
}

func (c *openAIToolChoice) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(b, &c.choice); err == nil {
		switch c.choice {
		case "auto", "none", "required":
			return nil
		}
		return fmt.Errorf("%q: want auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", c.choice)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return fmt.Errorf("want auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}")
	}
	c.choice, c.function = "function", named.Function.Name
	return nil
}

// responseFormat is OpenAI's response_format: text, json_object (any JSON
// value, the msgpack format "json") or json_schema (JSON valid against
// the schema, sent as its text with the keys in the client's order).
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// format returns the msgpack format of f ("" for text).
func (f *responseFormat) format() (string, error) {
	if f == nil {
		return "", nil
	}
	switch f.Type {
	case "", "text":
		return "", nil
	case "json_object":
		return "json", nil
	case "json_schema":
		if f.JSONSchema == nil || len(bytes.TrimSpace(f.JSONSchema.Schema)) == 0 || string(bytes.TrimSpace(f.JSONSchema.Schema)) == "null" {
			return "", badRequest("response_format json_schema needs json_schema.schema")
		}
		return string(bytes.TrimSpace(f.JSONSchema.Schema)), nil
	}
	return "", badRequest("response_format type %q: want text, json_object or json_schema", f.Type)
}

// openAISampling is the sampling part of both OpenAI generation bodies,
// with the llama.cpp extensions top_k, min_p, repeat_penalty and grammar.
type openAISampling struct {
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	MinP                *float64        `json:"min_p"`
	RepeatPenalty       *float64        `json:"repeat_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	Seed                *int64          `json:"seed"`
	Stop                stringList      `json:"stop"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	LogitBias           json.RawMessage `json:"logit_bias"`
	ResponseFormat      *responseFormat `json:"response_format"`
	// Grammar is llama-server's extension: a GBNF grammar.
	Grammar string `json:"grammar"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// apply sets req's sampling fields from s.
func (s *openAISampling) apply(req *ipc.Request) error {
	if s.N != nil && *s.N != 1 {
		return ipc.Errorf(ipc.CodeBadRequest, "n=%d is not supported: vkinfer returns one choice per request (n=1)", *s.N)
	}
	if err := refuse(unsupported{name: "logit_bias", raw: s.LogitBias, off: []string{"{}"}}); err != nil {
		return err
	}
	format, err := s.ResponseFormat.format()
	if err != nil {
		return err
	}
	req.Format, req.Grammar = format, s.Grammar
	switch {
	case s.MaxCompletionTokens != nil:
		req.MaxTokens = *s.MaxCompletionTokens
	case s.MaxTokens != nil:
		req.MaxTokens = *s.MaxTokens
	}
	req.Options = sampling{Temperature: s.Temperature, TopK: s.TopK, TopP: s.TopP, MinP: s.MinP,
		RepeatPenalty: s.RepeatPenalty, PresencePenalty: s.PresencePenalty,
		FrequencyPenalty: s.FrequencyPenalty, Seed: s.Seed}.options()
	req.Stop = s.Stop
	req.Stream = &s.Stream
	return nil
}

type chatCompletionRequest struct {
	Model    string          `json:"model"`
	Messages []openAIMessage `json:"messages"`
	openAISampling
	Logprobs     bool              `json:"logprobs"`
	TopLogprobs  *int              `json:"top_logprobs"`
	Tools        []json.RawMessage `json:"tools"`
	ToolChoice   openAIToolChoice  `json:"tool_choice"`
	Functions    json.RawMessage   `json:"functions"`
	FunctionCall json.RawMessage   `json:"function_call"`
	Audio        json.RawMessage   `json:"audio"`
	Modalities   json.RawMessage   `json:"modalities"`
	Prediction   json.RawMessage   `json:"prediction"`
}

// request translates a chat completion into a generate request.
func (c *chatCompletionRequest) request() (*ipc.Request, error) {
	if err := refuse(
		unsupported{name: "functions", raw: c.Functions, off: []string{"[]"}},
		unsupported{name: "function_call", raw: c.FunctionCall, off: []string{`"none"`, `"auto"`}},
		unsupported{name: "audio", raw: c.Audio},
		unsupported{name: "modalities", raw: c.Modalities, off: []string{`["text"]`}},
		unsupported{name: "prediction", raw: c.Prediction},
	); err != nil {
		return nil, err
	}
	if len(c.Messages) == 0 {
		return nil, badRequest("messages must hold at least one message")
	}
	if c.TopLogprobs != nil && *c.TopLogprobs != 0 && !c.Logprobs {
		return nil, badRequest("top_logprobs needs logprobs: true")
	}
	var err error
	req := &ipc.Request{Model: c.Model, Logprobs: c.Logprobs, ToolChoice: c.ToolChoice.choice, ToolChoiceFunction: c.ToolChoice.function}
	if c.TopLogprobs != nil {
		req.TopLogprobs = *c.TopLogprobs
	}
	if req.Tools, err = tools(c.Tools); err != nil {
		return nil, err
	}
	if len(req.Tools) == 0 && (req.ToolChoice == "auto" || req.ToolChoice == "none") {
		req.ToolChoice = "" // nothing to choose from: the default
	}
	for i, m := range c.Messages {
		msg := ipc.Message{Role: m.Role, Content: string(m.Content)}
		switch m.Role {
		case "system", "user":
		case "developer": // OpenAI's newer name for the system role
			msg.Role = "system"
		case "assistant":
			for j, call := range m.ToolCalls {
				tc, err := call.toolCall(fmt.Sprintf("messages[%d].tool_calls[%d]", i, j))
				if err != nil {
					return nil, err
				}
				msg.ToolCalls = append(msg.ToolCalls, tc)
			}
		case "tool":
			if m.ToolCallID == "" {
				return nil, badRequest("messages[%d]: a tool message needs tool_call_id", i)
			}
			msg.ToolCallID, msg.Name = m.ToolCallID, m.Name
		case "function":
			return nil, badRequest("messages[%d]: role \"function\" (the deprecated functions API) is not implemented by vkinfer: use tools and role \"tool\"", i)
		default:
			return nil, badRequest("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && m.Role != "assistant" {
			return nil, badRequest("messages[%d]: only assistant messages carry tool_calls", i)
		}
		req.Messages = append(req.Messages, msg)
	}
	if err := c.apply(req); err != nil {
		return nil, err
	}
	return generation(req)
}

type completionRequest struct {
	Model  string          `json:"model"`
	Prompt json.RawMessage `json:"prompt"`
	openAISampling
	Echo   json.RawMessage `json:"echo"`
	Suffix json.RawMessage `json:"suffix"`
	BestOf json.RawMessage `json:"best_of"`
	// Logprobs (0 to 20) asks for the chosen tokens' log-probabilities
	// and that many alternatives each.
	Logprobs *int `json:"logprobs"`
}

// request translates a completion into a raw-prompt generate request.
func (c *completionRequest) request() (*ipc.Request, error) {
	if err := refuse(
		unsupported{name: "echo", raw: c.Echo, off: []string{"false"}},
		unsupported{name: "suffix", raw: c.Suffix, off: []string{`""`}},
		unsupported{name: "best_of", raw: c.BestOf, off: []string{"1"}},
	); err != nil {
		return nil, err
	}
	var prompts stringList
	if err := prompts.UnmarshalJSON(c.Prompt); err != nil || len(c.Prompt) == 0 {
		return nil, badRequest("prompt must be a string (or an array of one string; token-id prompts are not implemented)")
	}
	if len(prompts) != 1 {
		return nil, badRequest("prompt holds %d prompts: vkinfer completes one prompt per request", len(prompts))
	}
	req := &ipc.Request{Model: c.Model, Prompt: prompts[0]}
	if c.Logprobs != nil {
		req.Logprobs, req.TopLogprobs = true, *c.Logprobs
	}
	if err := c.apply(req); err != nil {
		return nil, err
	}
	return generation(req)
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// request translates an embeddings request; OpenAI truncates nothing (an
// input past the context is an error).
func (e *embeddingRequest) request() (*ipc.Request, error) {
	switch e.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, badRequest("encoding_format %q: want float or base64", e.EncodingFormat)
	}
	var input stringList
	if err := input.UnmarshalJSON(e.Input); err != nil || len(e.Input) == 0 {
		return nil, badRequest("input must be a string or an array of strings (token-id inputs are not implemented)")
	}
	return embedding(&ipc.Request{Model: e.Model, Input: input, Dimensions: e.Dimensions})
}

// ollamaOptions are Ollama's "options", by its names. num_ctx is the
// request's context_size (vkinfer sets the context per request, not per
// load). Other options Ollama applies when loading a model (num_gpu,
// num_batch, ...) and sampling methods vkinfer lacks (mirostat,
// typical_p, ...) are refused by name.
type ollamaOptions map[string]json.RawMessage

// apply sets req's sampling fields from o.
func (o ollamaOptions) apply(req *ipc.Request) error {
	var s sampling
	var numPredict, numCtx *int
	var stop stringList
	targets := map[string]any{"num_ctx": &numCtx,
		"temperature": &s.Temperature, "top_k": &s.TopK, "top_p": &s.TopP, "min_p": &s.MinP,
		"repeat_penalty": &s.RepeatPenalty, "repeat_last_n": &s.RepeatLastN,
		"presence_penalty": &s.PresencePenalty, "frequency_penalty": &s.FrequencyPenalty,
		"seed": &s.Seed, "num_predict": &numPredict, "stop": &stop,
	}
	names := make([]string, 0, len(o))
	for name := range o {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dst, ok := targets[name]
		if !ok {
			return badRequest("option %q is not implemented by vkinfer (options: temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, seed, num_predict, num_ctx, stop)", name)
		}
		if err := json.Unmarshal(o[name], dst); err != nil {
			return badRequest("option %q: %v", name, jsonError(err))
		}
	}
	req.Options = s.options()
	if numCtx != nil {
		if req.Options == nil {
			req.Options = &ipc.Options{}
		}
		req.Options.ContextSize = numCtx
	}
	if numPredict != nil && *numPredict > 0 {
		req.MaxTokens = *numPredict // -1 (no limit) and -2 (fill the context) both run until the context is full
	}
	req.Stop = stop
	return nil
}

// keepAlive is Ollama's keep_alive: a duration string ("5m", "0") or a
// number of seconds; a negative one is forever.
type keepAlive struct {
	set bool
	d   time.Duration
}

func (k *keepAlive) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err == nil {
		k.set, k.d = true, time.Duration(secs*float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"5m\" or a number of seconds")
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		k.set, k.d = true, time.Duration(secs*float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"5m\" or a number of seconds, got %q", s)
	}
	k.set, k.d = true, d
	return nil
}

// unloadAfter reports whether the request asks to unload the model once
// it is served (keep_alive 0).
func (k keepAlive) unloadAfter() bool { return k.set && k.d == 0 }

// duration is the keep-alive the request sets for its model (0: unload
// it once served; negative: forever); nil when it sets none.
func (k keepAlive) duration() *time.Duration {
	if !k.set {
		return nil
	}
	d := k.d
	return &d
}

type ollamaMessage struct {
	Role      string           `json:"role"`
	Content   string           `json:"content"`
	Images    json.RawMessage  `json:"images,omitempty"`
	ToolCalls []ollamaToolCall `json:"tool_calls,omitempty"`
	// ToolName names the tool whose result a tool message holds.
	ToolName string `json:"tool_name,omitempty"`
}

// ollamaToolCall is a call in Ollama's shape: the arguments are an object.
type ollamaToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     *int            `json:"index,omitempty"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// ollamaCommon are the fields /api/generate and /api/chat share.
type ollamaCommon struct {
	Model       string          `json:"model"`
	Options     ollamaOptions   `json:"options"`
	Stream      *bool           `json:"stream"`
	KeepAlive   keepAlive       `json:"keep_alive"`
	Format      json.RawMessage `json:"format"`
	Logprobs    bool            `json:"logprobs"`
	TopLogprobs int             `json:"top_logprobs"`
	Think       json.RawMessage `json:"think"`
}

func (c *ollamaCommon) apply(req *ipc.Request) error {
	if err := refuse(unsupported{name: "think", raw: c.Think, off: []string{"false"}}); err != nil {
		return err
	}
	format, err := ollamaFormat(c.Format)
	if err != nil {
		return err
	}
	if c.TopLogprobs != 0 && !c.Logprobs {
		return badRequest("top_logprobs needs logprobs: true")
	}
	stream := c.Stream == nil || *c.Stream // Ollama streams unless told not to
	req.Model, req.Stream, req.Format = c.Model, &stream, format
	req.Logprobs, req.TopLogprobs = c.Logprobs, c.TopLogprobs
	return c.Options.apply(req)
}

// ollamaFormat is Ollama's format: "json", or a JSON schema object, sent
// as its text with the keys in the client's order.
func ollamaFormat(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null" || string(raw) == `""`:
		return "", nil
	case raw[0] == '{':
		return string(raw), nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s != "json" {
		return "", badRequest(`format must be "json" or a JSON schema object`)
	}
	return s, nil
}

type ollamaGenerateRequest struct {
	ollamaCommon
	Prompt   string          `json:"prompt"`
	System   string          `json:"system"`
	Raw      bool            `json:"raw"`
	Suffix   json.RawMessage `json:"suffix"`
	Template json.RawMessage `json:"template"`
	Context  json.RawMessage `json:"context"`
	Images   json.RawMessage `json:"images"`
}

// request translates /api/generate: raw sends the prompt as it is; else
// system and prompt go through the model's chat template, as Ollama's
// template does. A request with no prompt only loads (or unloads) the
// model; it returns nil then.
func (g *ollamaGenerateRequest) request() (*ipc.Request, error) {
	if err := refuse(
		unsupported{name: "suffix", raw: g.Suffix, off: []string{`""`}},
		unsupported{name: "template", raw: g.Template, off: []string{`""`}},
		unsupported{name: "context", raw: g.Context, off: []string{"[]"}},
		unsupported{name: "images", raw: g.Images, off: []string{"[]"}},
	); err != nil {
		return nil, err
	}
	req := &ipc.Request{}
	if err := g.apply(req); err != nil {
		return nil, err
	}
	switch {
	case g.Prompt == "":
		if req.Model == "" {
			return nil, badRequest("model is required")
		}
		return nil, nil
	case g.Raw:
		if g.System != "" {
			return nil, badRequest("system is not used with raw: put it in the prompt")
		}
		req.Prompt = g.Prompt
	default:
		if g.System != "" {
			req.Messages = append(req.Messages, ipc.Message{Role: "system", Content: g.System})
		}
		req.Messages = append(req.Messages, ipc.Message{Role: "user", Content: g.Prompt})
	}
	return generation(req)
}

type ollamaChatRequest struct {
	ollamaCommon
	Messages []ollamaMessage   `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
}

// request translates /api/chat; no messages only loads (or unloads) the
// model, and returns nil.
func (c *ollamaChatRequest) request() (*ipc.Request, error) {
	req := &ipc.Request{}
	if err := c.apply(req); err != nil {
		return nil, err
	}
	var err error
	if req.Tools, err = tools(c.Tools); err != nil {
		return nil, err
	}
	if len(c.Messages) == 0 {
		if req.Model == "" {
			return nil, badRequest("model is required")
		}
		return nil, nil
	}
	for i, m := range c.Messages {
		msg := ipc.Message{Role: m.Role, Content: m.Content}
		switch m.Role {
		case "system", "user":
		case "assistant":
			for j, call := range m.ToolCalls {
				if call.Function.Name == "" {
					return nil, badRequest("messages[%d].tool_calls[%d].function.name is required", i, j)
				}
				args, err := arguments(call.Function.Arguments)
				if err != nil {
					return nil, badRequest("messages[%d].tool_calls[%d].function.arguments: %v", i, j, err)
				}
				msg.ToolCalls = append(msg.ToolCalls, ipc.ToolCall{ID: call.ID, Type: "function",
					Function: ipc.ToolFunction{Name: call.Function.Name, Arguments: args}})
			}
		case "tool":
			msg.Name = m.ToolName
		default:
			return nil, badRequest("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && m.Role != "assistant" {
			return nil, badRequest("messages[%d]: only assistant messages carry tool_calls", i)
		}
		if err := refuse(unsupported{name: fmt.Sprintf("messages[%d].images", i), raw: m.Images, off: []string{"[]"}}); err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, msg)
	}
	return generation(req)
}

type ollamaEmbedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Truncate   *bool           `json:"truncate"`
	Dimensions int             `json:"dimensions"`
	KeepAlive  keepAlive       `json:"keep_alive"`
	Options    ollamaOptions   `json:"options"`
}

// request translates /api/embed; Ollama truncates long inputs unless told
// not to.
func (e *ollamaEmbedRequest) request() (*ipc.Request, error) {
	if len(e.Options) > 0 {
		for name := range e.Options {
			return nil, badRequest("option %q is not implemented for embeddings", name)
		}
	}
	var input stringList
	if err := input.UnmarshalJSON(e.Input); err != nil || len(e.Input) == 0 {
		return nil, badRequest("input must be a string or an array of strings")
	}
	return embedding(&ipc.Request{Model: e.Model, Input: input,
		Truncate: e.Truncate == nil || *e.Truncate, Dimensions: e.Dimensions})
}

// stemOf maps an Ollama-style name to a model's file stem: "name" and
// "name:latest" are the stem "name", and "name:tag" is "name-tag" (so
// "all-MiniLM-L6-v2:Q4_K_M" is the file all-MiniLM-L6-v2-Q4_K_M.gguf).
// Server.resolve tries the name as a stem first.
func stemOf(name string) string {
	i := strings.LastIndexByte(name, ':')
	switch {
	case i < 0:
		return name
	case name[i+1:] == "latest":
		return name[:i]
	}
	return name[:i] + "-" + name[i+1:]
}
