package httpapi

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"

	"github.com/vkinfer/vkinfer/ipc"
)

// scripted is an ipc.Handler whose Generate emits fixed chunks and ends
// with fixed stats, and whose Embed gives a fixed result, to pin the
// replies' shapes.
type scripted struct {
	blocking
	chunks []ipc.Chunk
	stats  ipc.Stats
	embed  ipc.EmbedResult
}

func (s *scripted) Generate(ctx context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	for _, c := range s.chunks {
		if err := emit(c); err != nil {
			return nil, err
		}
	}
	st := s.stats
	return &st, nil
}

func (s *scripted) Embed(ctx context.Context, req *ipc.Request) (ipc.EmbedResult, error) {
	return s.embed, nil
}

// lp is a token's logprob entry with one alternative, itself.
func lp(id int32, text string, logprob float32) []ipc.TokenLogprob {
	t := ipc.TopLogprob{ID: id, Token: text, Bytes: []byte(text), Logprob: logprob}
	return []ipc.TokenLogprob{{TopLogprob: t, TopLogprobs: []ipc.TopLogprob{t}}}
}

// TestReplyShapes: tool calls and logprobs go out in each dialect's shape,
// streamed and not, and an embed's token count as OpenAI's usage and
// Ollama's prompt_eval_count; ids and timestamps are masked.
func TestReplyShapes(t *testing.T) {
	call := ipc.ToolCall{Type: "function", Function: ipc.ToolFunction{Name: "get_time", Arguments: ipc.JSON(`{"zone":"UTC"}`)}}
	withCall := &scripted{
		chunks: []ipc.Chunk{{Text: "<tool_call>", Logprobs: lp(5, "<tool_call>", -0.5)}, {Text: `{"name":...}`, Logprobs: lp(6, "{", -0.25)}},
		stats:  ipc.Stats{StopReason: "eog", PromptTokens: 3, GeneratedTokens: 2, ToolCalls: []ipc.ToolCall{call}},
	}
	text := &scripted{
		chunks: []ipc.Chunk{{Text: "Hi", Logprobs: lp(7, "Hi", -1)}, {Text: " é", Logprobs: lp(8, " é", -2)}},
		stats:  ipc.Stats{StopReason: "max_tokens", PromptTokens: 1, GeneratedTokens: 2},
	}
	// Prose, then a call whose marker comes in pieces: the prose streams,
	// the call is held.
	proseThenCall := &scripted{
		chunks: []ipc.Chunk{{Text: "\nLet me"}, {Text: " check. "}, {Text: "<tool"}, {Text: "_call>"}, {Text: `{"name":...}</tool_call>`}},
		stats:  ipc.Stats{StopReason: "eog", PromptTokens: 3, GeneratedTokens: 5, ToolCalls: []ipc.ToolCall{call}, Content: "Let me check."},
	}
	prose := &scripted{
		chunks: []ipc.Chunk{{Text: "It is"}, {Text: " noon <"}, {Text: "3"}},
		stats:  ipc.Stats{StopReason: "eog", PromptTokens: 3, GeneratedTokens: 3},
	}
	embedded := &scripted{embed: ipc.EmbedResult{Embeddings: [][]float32{{0.5, 1}, {0.25, -1}}, PromptTokens: 7}}
	const offered = `"tools":[{"type":"function","function":{"name":"get_time"}}]`
	const tools = `"tools":[{"type":"function","function":{"name":"get_time"}}],"tool_choice":"required"`
	for _, tc := range []struct {
		name string
		h    *scripted
		path string
		body string
		want string
	}{
		{"openai chat, a call", withCall, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],` + tools + `,"logprobs":true}`,
			`{"id":"ID","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,` +
				`"tool_calls":[{"id":"ID","type":"function","function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]},` +
				`"logprobs":{"content":[{"token":"\u003ctool_call\u003e","logprob":-0.5,"bytes":[60,116,111,111,108,95,99,97,108,108,62],"top_logprobs":[{"token":"\u003ctool_call\u003e","logprob":-0.5,"bytes":[60,116,111,111,108,95,99,97,108,108,62]}]},` +
				`{"token":"{","logprob":-0.25,"bytes":[123],"top_logprobs":[{"token":"{","logprob":-0.25,"bytes":[123]}]}],"refusal":[]},` +
				`"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n"},
		{"openai chat streamed, a call held to the end", withCall, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],` + tools + `,"stream":true}`,
			`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"ID","type":"function","function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"openai chat streamed, prose before a call", proseThenCall, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],` + offered + `,"stream":true}`,
			`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"Let me"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":" check."},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"ID","type":"function","function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"openai chat streamed, prose before a call, logprobs: held whole", proseThenCall, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],` + offered + `,"stream":true,"logprobs":true}`,
			`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"Let me check."},"logprobs":{"content":[],"refusal":[]},"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"ID","type":"function","function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"openai chat streamed, tools offered and prose", prose, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],` + offered + `,"stream":true}`,
			`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"It is"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":" noon"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":" \u003c3"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"ollama chat streamed, prose before a call", proseThenCall, "/api/chat", `{"model":"m","messages":[{"role":"user","content":"x"}],` + offered + `}`,
			`{"model":"m","created_at":"T","message":{"role":"assistant","content":"Let me"},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":" check."},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"get_time","arguments":{"zone":"UTC"}}}]},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":5}` + "\n"},
		{"ollama chat streamed, tools offered and prose", prose, "/api/chat", `{"model":"m","messages":[{"role":"user","content":"x"}],` + offered + `}`,
			`{"model":"m","created_at":"T","message":{"role":"assistant","content":"It is"},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":" noon"},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":" \u003c3"},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":3}` + "\n"},
		{"openai chat streamed, logprobs per delta", text, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"logprobs":true,"top_logprobs":1}`,
			`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-1,"bytes":[72,105]}]}],"refusal":[]},"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":" é"},"logprobs":{"content":[{"token":" é","logprob":-2,"bytes":[32,195,169],"top_logprobs":[{"token":" é","logprob":-2,"bytes":[32,195,169]}]}],"refusal":[]},"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"legacy completion logprobs, byte offsets", text, "/v1/completions", `{"model":"m","prompt":"x","logprobs":1}`,
			`{"id":"ID","object":"text_completion","created":0,"model":"m","choices":[{"text":"Hi é","index":0,` +
				`"logprobs":{"tokens":["Hi"," é"],"token_logprobs":[-1,-2],"top_logprobs":[{"Hi":-1},{" é":-2}],"text_offset":[0,2]},"finish_reason":"length"}],` +
				`"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n"},
		{"legacy completion streamed", text, "/v1/completions", `{"model":"m","prompt":"x","logprobs":0,"stream":true}`,
			`data: {"id":"ID","object":"text_completion","created":0,"model":"m","choices":[{"text":"Hi","index":0,"logprobs":{"tokens":["Hi"],"token_logprobs":[-1],"top_logprobs":[{"Hi":-1}],"text_offset":[0]},"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"text_completion","created":0,"model":"m","choices":[{"text":" é","index":0,"logprobs":{"tokens":[" é"],"token_logprobs":[-2],"top_logprobs":[{" é":-2}],"text_offset":[2]},"finish_reason":null}]}` + "\n\n" +
				`data: {"id":"ID","object":"text_completion","created":0,"model":"m","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}]}` + "\n\n" +
				"data: [DONE]\n\n"},
		{"ollama chat, a call", withCall, "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"get_time"}}]}`,
			`{"model":"m","created_at":"T","message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"get_time","arguments":{"zone":"UTC"}}}]},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}` + "\n"},
		{"ollama chat streamed, a call held to the end", withCall, "/api/chat", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"get_time"}}]}`,
			`{"model":"m","created_at":"T","message":{"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"get_time","arguments":{"zone":"UTC"}}}]},"done":false}` + "\n" +
				`{"model":"m","created_at":"T","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}` + "\n"},
		{"openai embeddings, usage", embedded, "/v1/embeddings", `{"model":"m","input":["ab","abcd"]}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,1]},{"object":"embedding","index":1,"embedding":[0.25,-1]}],` +
				`"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}` + "\n"},
		{"ollama embed, prompt_eval_count", embedded, "/api/embed", `{"model":"m","input":["ab","abcd"]}`,
			`{"embeddings":[[0.5,1],[0.25,-1]],"model":"m","prompt_eval_count":7}` + "\n"},
		{"ollama generate logprobs", text, "/api/generate", `{"model":"m","prompt":"x","raw":true,"stream":false,"logprobs":true}`,
			`{"model":"m","created_at":"T","response":"Hi é","done":true,"logprobs":[{"token":"Hi","logprob":-1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-1,"bytes":[72,105]}]},` +
				`{"token":" é","logprob":-2,"bytes":[32,195,169],"top_logprobs":[{"token":" é","logprob":-2,"bytes":[32,195,169]}]}],"done_reason":"length","prompt_eval_count":1,"eval_count":2}` + "\n"},
	} {
		_, url := serve(t, tc.h, Config{})
		resp := request(t, http.DefaultClient, "POST", url+tc.path, tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := masked(string(b)); resp.StatusCode != 200 || got != tc.want {
			t.Errorf("%s: %d\n got %s\nwant %s", tc.name, resp.StatusCode, got, tc.want)
		}
	}
}

var masks = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`"id":"[^"]*"`), `"id":"ID"`},
	{regexp.MustCompile(`"created_at":"[^"]*"`), `"created_at":"T"`},
	{regexp.MustCompile(`"created":\d+`), `"created":0`},
	{regexp.MustCompile(`,"(total|load|prompt_eval|eval)_duration":\d+`), ``},
}

// masked replaces the values that change per run: ids, times and
// Ollama's durations.
func masked(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.to)
	}
	return s
}
