package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/ipc"
)

type openAIUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(st *ipc.Stats) *openAIUsage {
	return &openAIUsage{PromptTokens: st.PromptTokens, CompletionTokens: st.GeneratedTokens, TotalTokens: st.PromptTokens + st.GeneratedTokens}
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is null in a reply that is only tool calls.
	Content   *string      `json:"content"`
	ToolCalls []openAICall `json:"tool_calls,omitempty"`
}

type chatDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []openAICall `json:"tool_calls,omitempty"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      *chatMessage  `json:"message,omitempty"`
	Delta        *chatDelta    `json:"delta,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *openAIUsage `json:"usage,omitempty"`
}

type textChoice struct {
	Text         string        `json:"text"`
	Index        int           `json:"index"`
	Logprobs     *textLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type textCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []textChoice `json:"choices"`
	Usage   *openAIUsage `json:"usage,omitempty"`
}

// newID returns an OpenAI-style object id.
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// output is a generation's text and logprobs, gathered.
type output struct {
	text     strings.Builder
	logprobs []ipc.TokenLogprob
}

func (o *output) add(c ipc.Chunk) {
	o.text.WriteString(c.Text)
	o.logprobs = append(o.logprobs, c.Logprobs...)
}

// split returns the reply's content, its calls and finish reason: with
// tool calls, the content is the text outside them.
func (o *output) split(stats *ipc.Stats) (content string, calls []ipc.ToolCall, reason string) {
	if len(stats.ToolCalls) > 0 {
		return stats.Content, stats.ToolCalls, "tool_calls"
	}
	return o.text.String(), nil, finishReason(stats.StopReason)
}

// chatCompletions serves POST /v1/chat/completions (msgpack: generate
// with messages).
func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	var body chatCompletionRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	head := chatCompletion{ID: newID("chatcmpl-"), Created: time.Now().Unix(), Model: req.Model}
	if !body.Stream {
		var out output
		stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
			out.add(c)
			return nil
		})
		if err != nil {
			return err
		}
		content, calls, reason := out.split(stats)
		msg := &chatMessage{Role: "assistant", ToolCalls: openAICalls(calls, false)}
		if content != "" || len(calls) == 0 {
			msg.Content = &content
		}
		head.Object, head.Usage = "chat.completion", usageOf(stats)
		head.Choices = []chatChoice{{Message: msg, Logprobs: chatLogprobsOf(req, out.logprobs), FinishReason: &reason}}
		writeJSON(w, http.StatusOK, head)
		return nil
	}
	st := newStream(w, openAI)
	head.Object = "chat.completion.chunk"
	chunk := func(delta chatDelta, lps *chatLogprobs, reason *string) chatCompletion {
		c := head
		c.Choices = []chatChoice{{Delta: &delta, Logprobs: lps, FinishReason: reason}}
		return c
	}
	role := func() error {
		if st.started {
			return nil
		}
		empty := ""
		return st.send(chunk(chatDelta{Role: "assistant", Content: &empty}, nil, nil))
	}
	// A reply parsed for tool calls sends its content as far as it is
	// sure, and the rest and then its calls at its end.
	held := parsesCalls(req)
	cs := callStream{holdAll: req.Logprobs}
	stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
		t, lps := c.Text, chatLogprobsOf(req, c.Logprobs)
		if held {
			if t, lps = cs.add(c), nil; t == "" {
				return nil
			}
		}
		if err := role(); err != nil {
			return err
		}
		return st.send(chunk(chatDelta{Content: &t}, lps, nil))
	})
	if err != nil {
		return st.finish(err)
	}
	if role() != nil {
		return nil
	}
	reason := finishReason(stats.StopReason)
	if held {
		content, calls, why := cs.end(stats)
		reason = why
		lps := chatLogprobsOf(req, cs.out.logprobs)
		if content != "" || (len(calls) == 0 && cs.sent == "") {
			if st.send(chunk(chatDelta{Content: &content}, lps, nil)) != nil {
				return nil
			}
			lps = nil
		}
		if len(calls) > 0 && st.send(chunk(chatDelta{ToolCalls: openAICalls(calls, true)}, lps, nil)) != nil {
			return nil
		}
	}
	if st.send(chunk(chatDelta{}, nil, &reason)) != nil {
		return nil
	}
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		c := head
		c.Choices, c.Usage = []chatChoice{}, usageOf(stats)
		if st.send(c) != nil {
			return nil
		}
	}
	st.done()
	return nil
}

// completions serves POST /v1/completions (msgpack: generate with a
// prompt, which the model continues as it is).
func (s *Server) completions(w http.ResponseWriter, r *http.Request) error {
	var body completionRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	head := textCompletion{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: req.Model}
	// offset is the byte offset of the next token in the completion.
	offset := 0
	logprobs := func(lps []ipc.TokenLogprob) *textLogprobs {
		if !req.Logprobs {
			return nil
		}
		var out *textLogprobs
		out, offset = textLogprobsOf(lps, offset)
		return out
	}
	if !body.Stream {
		var out output
		stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
			out.add(c)
			return nil
		})
		if err != nil {
			return err
		}
		reason := finishReason(stats.StopReason)
		head.Usage = usageOf(stats)
		head.Choices = []textChoice{{Text: out.text.String(), Logprobs: logprobs(out.logprobs), FinishReason: &reason}}
		writeJSON(w, http.StatusOK, head)
		return nil
	}
	st := newStream(w, openAI)
	chunk := func(text string, lps *textLogprobs, reason *string) textCompletion {
		c := head
		c.Choices = []textChoice{{Text: text, Logprobs: lps, FinishReason: reason}}
		return c
	}
	stats, err := s.generate(r.Context(), req, func(c ipc.Chunk) error {
		return st.send(chunk(c.Text, logprobs(c.Logprobs), nil))
	})
	if err != nil {
		return st.finish(err)
	}
	reason := finishReason(stats.StopReason)
	if st.send(chunk("", nil, &reason)) != nil {
		return nil
	}
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		c := head
		c.Choices, c.Usage = []textChoice{}, usageOf(stats)
		if st.send(c) != nil {
			return nil
		}
	}
	st.done()
	return nil
}

type embeddingData struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// embeddingUsage is OpenAI's usage of an embeddings reply, which has no
// completion tokens.
type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

// embeddings serves POST /v1/embeddings (msgpack: embed).
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) error {
	var body embeddingRequest
	if err := readJSON(w, r, s.cfg.MaxBody, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	res, err := s.embed(r.Context(), req)
	if err != nil {
		return err
	}
	out := embeddingList{Object: "list", Model: req.Model, Data: make([]embeddingData, len(res.Embeddings)),
		Usage: embeddingUsage{PromptTokens: res.PromptTokens, TotalTokens: res.PromptTokens}}
	for i, v := range res.Embeddings {
		var e any = orEmpty(v)
		if body.EncodingFormat == "base64" {
			e = base64Floats(v)
		}
		out.Data[i] = embeddingData{Object: "embedding", Index: i, Embedding: e}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// base64Floats encodes v as OpenAI's base64 format does: little-endian
// float32s.
func base64Floats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models serves GET /v1/models (msgpack: models): the models that can
// run, created at their file's modification time.
func (s *Server) models(w http.ResponseWriter, r *http.Request) error {
	models, err := s.h.Models(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: []openAIModel{}}
	for _, m := range usable(models) {
		out.Data = append(out.Data, openAIModel{ID: m.Name, Object: "model", Created: modTime(m.Path).Unix(), OwnedBy: "vkinfer"})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
