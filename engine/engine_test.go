package engine

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/sampling"
)

// collect runs req and returns the chunks.
func collect(t *testing.T, e *Engine, req Request) ([]Chunk, Result, error) {
	t.Helper()
	var chunks []Chunk
	res, err := e.Generate(context.Background(), req, func(c Chunk) error {
		if !utf8.ValidString(c.Text) {
			t.Errorf("chunk text %q is not valid UTF-8", c.Text)
		}
		chunks = append(chunks, c)
		return nil
	})
	return chunks, res, err
}

func joined(chunks []Chunk) (string, []int32) {
	var b strings.Builder
	var ids []int32
	for _, c := range chunks {
		b.WriteString(c.Text)
		ids = append(ids, c.Tokens...)
	}
	return b.String(), ids
}

func greedy(prompt string) Request { return Request{Prompt: prompt, Params: sampling.Greedy()} }

func TestValidate(t *testing.T) {
	bad := func(f func(r *Request)) Request {
		r := greedy("hi")
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"temperature", bad(func(r *Request) { r.Params.Temperature = -1 }), "temperature -1"},
		{"top_p", bad(func(r *Request) { r.Params.TopP = 0 }), "top_p 0"},
		{"max_tokens", bad(func(r *Request) { r.MaxTokens = -1 }), "max_tokens -1"},
		{"stop", bad(func(r *Request) { r.Stop = []string{"x", ""} }), "stop string 1 is empty"},
		{"chat roles", bad(func(r *Request) { r.Messages = []chat.Message{{Role: "bot", Content: "x"}} }), `unknown role "bot"`},
	}
	for _, tt := range tests {
		sess := &scriptSession{ctxSize: 64, next: say(3, "ok")}
		e := New(sess, byteTokenizer{}, Options{ChatTemplate: "chatml"})
		_, res, err := collect(t, e, tt.req)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want ErrInvalid containing %q", tt.name, err, tt.want)
		}
		if res.StopReason != StopError || len(sess.evals) != 0 {
			t.Errorf("%s: stop %q and %d evals, want error and none", tt.name, res.StopReason, len(sess.evals))
		}
	}
}

func TestPromptTooLong(t *testing.T) {
	sess := &scriptSession{ctxSize: 4, next: say(4, "x")}
	e := New(sess, byteTokenizer{}, Options{})
	if _, _, err := collect(t, e, greedy("abc")); err != nil {
		t.Fatalf("prompt of exactly the context size: %v", err)
	}
	_, _, err := collect(t, e, greedy("abcd"))
	if !errors.Is(err, ErrPromptTooLong) || !strings.Contains(err.Error(), "prompt has 5 tokens, the context holds 4") {
		t.Errorf("error %v, want ErrPromptTooLong with both sizes", err)
	}
}

func TestChatTemplateErrors(t *testing.T) {
	req := Request{Messages: []chat.Message{{Role: chat.RoleUser, Content: "hi"}}, Params: sampling.Greedy()}
	e := New(&scriptSession{ctxSize: 64, next: say(1, "")}, byteTokenizer{}, Options{Name: "tiny"})
	if _, _, err := collect(t, e, req); !errors.Is(err, chat.ErrNoTemplate) || !strings.Contains(err.Error(), "model tiny") {
		t.Errorf("no template: %v", err)
	}
	e = New(&scriptSession{ctxSize: 64, next: say(1, "")}, byteTokenizer{}, Options{ChatTemplate: "{% for weird in %}"})
	if _, _, err := collect(t, e, req); !errors.Is(err, chat.ErrTemplate) {
		t.Errorf("template that does not compile: %v", err)
	}
	// Raw prompts need no template.
	if _, _, err := collect(t, e, greedy("x")); err != nil {
		t.Errorf("raw prompt with unknown template: %v", err)
	}
}

func TestChatMode(t *testing.T) {
	msgs := []chat.Message{{Role: chat.RoleSystem, Content: "S"}, {Role: chat.RoleUser, Content: "U"}}
	// The template prints BOS and the tokenizer adds one: it is not doubled.
	rendered := "[system] S</s>\n[user] U</s>\n"
	want, _ := byteTokenizer{}.Encode(rendered, true, true)
	sess := &scriptSession{ctxSize: 64, next: say(len(want), "A")}
	e := New(sess, byteTokenizer{}, Options{
		ChatTemplate: "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content + eos_token }}\n{% endfor %}",
		ChatTokens:   chat.Tokens{BOS: "<s>", EOS: "</s>"},
	})
	if tmpl, err := e.Template(); err != nil || tmpl.Name() != "jinja" {
		t.Fatalf("template %v %v, want jinja", tmpl.Name(), err)
	}
	chunks, res, err := collect(t, e, Request{Messages: msgs, Params: sampling.Greedy()})
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := joined(chunks); text != "A" || res.PromptTokens != len(want) {
		t.Errorf("got %q with %d prompt tokens, want %q with %d", text, res.PromptTokens, "A", len(want))
	}
	if !slices.Equal(sess.evals[0].tokens, want) {
		t.Errorf("prompt tokens %v, want the rendered template %v", sess.evals[0].tokens, want)
	}
}

// A request offering tools renders them through the template and gets the
// reply's tool calls parsed in the template's format.
func TestToolCalls(t *testing.T) {
	const tmpl = `{% for m in messages %}{{ m.content }}{% endfor %}{% for t in tools %}{{ t | tojson }}{% endfor %}<tool_call>`
	tools := []json.RawMessage{json.RawMessage(`{"type":"function","function":{"name":"f"}}`)}
	msgs := []chat.Message{{Role: chat.RoleUser, Content: "U"}}
	prompt, _ := byteTokenizer{}.Encode(`U{"type": "function", "function": {"name": "f"}}<tool_call>`, true, true)
	tests := []struct {
		name, reply string
		noCalls     bool
		content     string
		calls       []chat.ToolCall
	}{
		{"call", "x <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>", false,
			"x", []chat.ToolCall{{Name: "f", Arguments: json.RawMessage(`{"a":1}`)}}},
		{"prose", "no call", false, "no call", nil},
		{"tool_choice none", "<tool_call>{\"name\": \"f\"}</tool_call>", true, "", nil},
	}
	for _, tt := range tests {
		sess := &scriptSession{ctxSize: 256, next: say(len(prompt), tt.reply)}
		e := New(sess, byteTokenizer{}, Options{ChatTemplate: tmpl})
		chunks, res, err := collect(t, e, Request{Messages: msgs, Tools: tools, NoToolCalls: tt.noCalls, Params: sampling.Greedy()})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(sess.evals[0].tokens, prompt) {
			t.Errorf("%s: prompt %v, want %v", tt.name, sess.evals[0].tokens, prompt)
		}
		if text, _ := joined(chunks); text != tt.reply {
			t.Errorf("%s: streamed %q, want the raw reply %q", tt.name, text, tt.reply)
		}
		if res.Content != tt.content && tt.calls != nil || !reflect.DeepEqual(res.ToolCalls, tt.calls) {
			t.Errorf("%s: content %q calls %+v, want %q %+v", tt.name, res.Content, res.ToolCalls, tt.content, tt.calls)
		}
	}
	e := New(&scriptSession{ctxSize: 64, next: say(1, "")}, byteTokenizer{}, Options{ChatTemplate: tmpl})
	if _, _, err := collect(t, e, Request{Prompt: "x", Tools: tools, Params: sampling.Greedy()}); !errors.Is(err, ErrInvalid) {
		t.Errorf("tools with a raw prompt: %v, want ErrInvalid", err)
	}
}

func TestGenerate(t *testing.T) {
	const out = "héllo €uro 𝄞!" // 2-, 3- and 4-byte sequences split over byte tokens
	tests := []struct {
		name      string
		text      string
		maxTokens int
		stop      []string
		ctxSize   int
		wantText  string
		wantIDs   int
		reason    StopReason
		stopStr   string
	}{
		{"eog", out, 0, nil, 64, out, len(out), StopEOG, ""},
		{"max tokens", out, 3, nil, 64, "hé", 3, StopMaxTokens, ""},
		{"max tokens mid rune", out, 2, nil, 64, "h\uFFFD", 2, StopMaxTokens, ""},
		{"context full", out, 0, nil, 8, "héllo", 6, StopContextFull, ""},
		{"stop string", out, 0, []string{"uro", "lo"}, 64, "hél", len("héllo"), StopString, "lo"},
		{"stop string multibyte", out, 0, []string{"𝄞"}, 64, "héllo €uro ", len("héllo €uro 𝄞"), StopString, "𝄞"},
		{"partial stop released at end", "abcE", 0, []string{"END"}, 64, "abcE", 4, StopEOG, ""},
		{"partial stop released when broken", "abENx", 0, []string{"END"}, 64, "abENx", 5, StopEOG, ""},
		{"stray bytes become U+FFFD", "a\x80b\xffc", 0, nil, 64, "a\uFFFDb\uFFFDc", 5, StopEOG, ""},
		{"earliest stop wins", "one two three", 0, []string{"three", "two"}, 64, "one ", len("one two"), StopString, "two"},
	}
	for _, tt := range tests {
		// The prompt "ab" is BOS a b: 3 tokens.
		sess := &scriptSession{ctxSize: tt.ctxSize, next: say(3, tt.text)}
		e := New(sess, byteTokenizer{}, Options{})
		req := greedy("ab")
		req.MaxTokens, req.Stop = tt.maxTokens, tt.stop
		chunks, res, err := collect(t, e, req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		text, ids := joined(chunks)
		if text != tt.wantText || len(ids) != tt.wantIDs || res.GeneratedTokens != tt.wantIDs {
			t.Errorf("%s: text %q, %d ids, %d generated; want %q, %d", tt.name, text, len(ids), res.GeneratedTokens, tt.wantText, tt.wantIDs)
		}
		if !slices.Equal(ids, tokensOf(tt.text)[:len(ids)]) {
			t.Errorf("%s: ids %v are not the generated tokens", tt.name, ids)
		}
		if res.StopReason != tt.reason || res.StopString != tt.stopStr {
			t.Errorf("%s: stop %q %q, want %q %q", tt.name, res.StopReason, res.StopString, tt.reason, tt.stopStr)
		}
		for _, c := range chunks {
			if c.Text == "" && len(c.Tokens) == 0 {
				t.Errorf("%s: empty chunk", tt.name)
			}
			for _, s := range tt.stop {
				if strings.Contains(c.Text, s) {
					t.Errorf("%s: chunk %q leaks stop string %q", tt.name, c.Text, s)
				}
			}
		}
		if res.PromptTokens != 3 || res.CachedTokens != 0 || res.TimeToFirstToken <= 0 || res.GenerationDuration <= 0 {
			t.Errorf("%s: result %+v", tt.name, res)
		}
	}
}

// A partial stop-string match is held back until it is settled.
func TestStopHoldback(t *testing.T) {
	sess := &scriptSession{ctxSize: 64, next: say(2, "xENy")}
	e := New(sess, byteTokenizer{}, Options{})
	req := greedy("a")
	req.Stop = []string{"END"}
	chunks, _, err := collect(t, e, req)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, c := range chunks {
		texts = append(texts, c.Text)
	}
	if want := []string{"x", "ENy"}; !slices.Equal(texts, want) {
		t.Errorf("chunks %q, want %q", texts, want)
	}
	if len(chunks) == 2 && !slices.Equal(chunks[1].Tokens, tokensOf("ENy")) {
		t.Errorf("held-back tokens %v, want them with the released text", chunks[1].Tokens)
	}
}

func TestPrefillBatches(t *testing.T) {
	sess := &scriptSession{ctxSize: 64, next: say(6, "z")}
	e := New(sess, byteTokenizer{}, Options{BatchSize: 2})
	if _, _, err := collect(t, e, greedy("abcde")); err != nil {
		t.Fatal(err)
	}
	var got []evalCall
	for _, c := range sess.evals {
		got = append(got, evalCall{c.pos, c.tokens})
	}
	want := []evalCall{{0, []int32{bosID, 3 + 'a'}}, {2, tokensOf("bc")}, {4, tokensOf("de")}, {6, tokensOf("z")}}
	if !slices.EqualFunc(got, want, func(a, b evalCall) bool { return a.pos == b.pos && slices.Equal(a.tokens, b.tokens) }) {
		t.Errorf("evals %v, want %v", got, want)
	}
}

func TestPromptCache(t *testing.T) {
	// The model always continues with "xy" then EOS, whatever the prompt.
	sess := &scriptSession{ctxSize: 64}
	e := New(sess, byteTokenizer{}, Options{})
	tests := []struct {
		prompt    string
		cached    int
		evalPos   int // position of the first prefill Eval
		evalCount int // tokens evaluated in prefill
	}{
		{"abcd", 0, 0, 5},
		{"abcdxyz", 7, 7, 1}, // BOS abcd xy are cached: the generated tokens too
		{"abcdxyz", 7, 7, 1}, // the whole prompt is cached: its last token is evaluated again
		{"abQ", 3, 3, 1},     // diverges at Q
		{"b", 1, 1, 1},       // only BOS is shared
		{"abQxyk", 5, 5, 1},  // after "b" the cache is BOS b x y, so only BOS... see check below
	}
	for i, tt := range tests {
		if i == len(tests)-1 {
			// The cache now holds BOS b x y: "abQxyk" shares only BOS.
			tt.cached, tt.evalPos, tt.evalCount = 1, 1, 6
		}
		plen := len(tt.prompt) + 1
		sess.next = say(plen, "xy")
		sess.evals = nil
		_, res, err := collect(t, e, greedy(tt.prompt))
		if err != nil {
			t.Fatal(err)
		}
		first := sess.evals[0]
		if res.CachedTokens != tt.cached || first.pos != tt.evalPos || len(first.tokens) != tt.evalCount {
			t.Errorf("prompt %q: cached %d, first eval %d tokens at %d; want %d, %d at %d",
				tt.prompt, res.CachedTokens, len(first.tokens), first.pos, tt.cached, tt.evalCount, tt.evalPos)
		}
		if e.CachedTokens() != plen+2 {
			t.Errorf("prompt %q: cache holds %d tokens, want prompt+2 = %d", tt.prompt, e.CachedTokens(), plen+2)
		}
	}
}

func TestEvalErrorResetsCache(t *testing.T) {
	boom := errors.New("device lost")
	sess := &scriptSession{ctxSize: 64, next: say(4, "q")}
	e := New(sess, byteTokenizer{}, Options{BatchSize: 2})
	sess.onEval = func(call int) error {
		if call == 1 {
			return boom
		}
		return nil
	}
	_, res, err := collect(t, e, greedy("abc"))
	if !errors.Is(err, boom) || res.StopReason != StopError {
		t.Fatalf("error %v stop %q, want %v and error", err, res.StopReason, boom)
	}
	if e.CachedTokens() != 0 {
		t.Errorf("cache holds %d tokens after a failed batch, want 0", e.CachedTokens())
	}
	sess.onEval, sess.evals = nil, nil
	if _, res, err := collect(t, e, greedy("abc")); err != nil || res.CachedTokens != 0 || sess.evals[0].pos != 0 {
		t.Errorf("after the error: %v, %d cached, first eval %+v; want the whole prompt again", err, res.CachedTokens, sess.evals[0])
	}
}

func TestCancel(t *testing.T) {
	t.Run("during decode", func(t *testing.T) {
		sess := &scriptSession{ctxSize: 64, next: say(2, "abcdefgh")}
		e := New(sess, byteTokenizer{}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var chunks int
		res, err := e.Generate(ctx, greedy("a"), func(c Chunk) error {
			chunks++
			if chunks == 2 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || res.StopReason != StopCancelled {
			t.Fatalf("error %v stop %q, want context.Canceled and cancelled", err, res.StopReason)
		}
		// One prefill eval, then one per emitted token; the step that saw
		// the cancel still evaluates its token, the next one stops.
		if chunks != 2 || len(sess.evals) != 3 || res.GeneratedTokens != 2 {
			t.Errorf("%d chunks, %d evals, %d tokens after cancel at chunk 2; want 2, 3, 2", chunks, len(sess.evals), res.GeneratedTokens)
		}
	})
	t.Run("during prefill", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sess := &scriptSession{ctxSize: 64, next: say(4, "x")}
		sess.onEval = func(int) error { cancel(); return nil }
		e := New(sess, byteTokenizer{}, Options{BatchSize: 1})
		res, err := e.Generate(ctx, greedy("abc"), func(Chunk) error { t.Error("chunk after cancel"); return nil })
		if !errors.Is(err, context.Canceled) || res.StopReason != StopCancelled || len(sess.evals) != 1 {
			t.Errorf("error %v stop %q evals %d, want Canceled, cancelled, 1", err, res.StopReason, len(sess.evals))
		}
	})
	t.Run("emit error", func(t *testing.T) {
		gone := errors.New("client gone")
		sess := &scriptSession{ctxSize: 64, next: say(2, "abc")}
		e := New(sess, byteTokenizer{}, Options{})
		res, err := e.Generate(context.Background(), greedy("a"), func(Chunk) error { return gone })
		if !errors.Is(err, gone) || res.StopReason != StopCancelled || res.GeneratedTokens != 1 {
			t.Errorf("error %v stop %q tokens %d, want client gone, cancelled, 1", err, res.StopReason, res.GeneratedTokens)
		}
	})
}

func TestMetrics(t *testing.T) {
	var m Metrics
	sess := &scriptSession{ctxSize: 64, next: say(2, "abc")}
	e := New(sess, byteTokenizer{}, Options{Name: "m1", Metrics: &m})
	for range 2 {
		if _, _, err := collect(t, e, greedy("a")); err != nil {
			t.Fatal(err)
		}
	}
	bad := greedy("a")
	bad.MaxTokens = -1
	collect(t, e, bad)
	e2 := New(&scriptSession{ctxSize: 64, next: say(2, "z")}, byteTokenizer{}, Options{Name: "m2", Metrics: &m})
	e2.Generate(context.Background(), greedy("a"), func(Chunk) error { return errors.New("gone") })

	s := m.Snapshot()
	want := map[string]Counts{
		"m1": {Requests: 3, Errors: 1, PromptTokens: 4, CachedTokens: 1, GeneratedTokens: 6},
		"m2": {Requests: 1, Cancelled: 1, PromptTokens: 2, GeneratedTokens: 1},
	}
	for name, w := range want {
		got := s.Models[name]
		got.PromptDuration, got.GenerationDuration = 0, 0
		if got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
	if tot := s.Total; tot.Requests != 4 || tot.Errors != 1 || tot.Cancelled != 1 || tot.GeneratedTokens != 7 {
		t.Errorf("total %+v", tot)
	}
}

func TestClose(t *testing.T) {
	sess := &scriptSession{ctxSize: 8}
	if err := New(sess, byteTokenizer{}, Options{}).Close(); err != nil || !sess.closed {
		t.Errorf("Close: %v, closed %v", err, sess.closed)
	}
}

func TestSeededSampling(t *testing.T) {
	run := func(seed uint64) []int32 {
		sess := &scriptSession{ctxSize: 64, next: say(2, "aaaaaaaaaaaaaaaaaaaa"), soft: true}
		e := New(sess, byteTokenizer{}, Options{})
		req := Request{Prompt: "a", MaxTokens: 20, Params: sampling.Params{Temperature: 1, TopP: 1, RepeatPenalty: 1, Seed: seed}}
		chunks, _, err := collect(t, e, req)
		if err != nil {
			t.Fatal(err)
		}
		_, ids := joined(chunks)
		return ids
	}
	a, b, c := run(7), run(7), run(8)
	if len(a) != 20 || !slices.Equal(a, b) {
		t.Errorf("seed 7 twice: %v and %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same %v", a)
	}
	if slices.Equal(a, tokensOf("aaaaaaaaaaaaaaaaaaaa")) {
		t.Errorf("temperature 1 always picked the top token: %v", a)
	}
}
