package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/model/tokenizer"
)

const chatTestdata = "../../engine/chat/testdata"

// withTemplate writes a copy of the shared model rel into dir as
// name.gguf, carrying the chat template of testdata/templates/tmpl.jinja.
func withTemplate(t *testing.T, dir, name, rel, tmpl string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(chatTestdata, "templates", tmpl+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(testmodels.Model(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := gguf.FromFile(f)
	b.SetString(chat.MetadataKey, string(src))
	if err := b.WriteFile(filepath.Join(dir, name+".gguf")); err != nil {
		t.Fatal(err)
	}
}

// vectors reads llama.cpp's tokenizer test vectors beside a vocab file.
func vectors(t *testing.T, path string) (inputs []string, want [][]int32) {
	inp, err := os.ReadFile(path + ".inp")
	if err != nil {
		return nil, nil
	}
	out, err := os.ReadFile(path + ".out")
	if err != nil {
		t.Fatal(err)
	}
	inputs = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%s: %d inputs, %d output lines", path, len(inputs), len(lines))
	}
	for _, l := range lines {
		var ids []int32
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, int32(n))
		}
		want = append(want, ids)
	}
	return inputs, want
}

// TestTokenizeVocabFiles: tokenize answers from vocabulary-only GGUF
// files (no weights to load) with llama.cpp's ids for its test strings,
// and detokenize inverts it; no model gets loaded for either.
func TestTokenizeVocabFiles(t *testing.T) {
	vocabDir := filepath.Dir(testmodels.Model(t, "vocab/ggml-vocab-llama-spm.gguf"))
	models := t.TempDir()
	paths, _ := filepath.Glob(filepath.Join(vocabDir, "*.gguf"))
	for _, p := range paths {
		if err := os.Symlink(p, filepath.Join(models, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, models, socketPath(t), "--device", "cpu")
	c := d.client()
	ctx := context.Background()
	no := false
	checked := 0
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".gguf")
		inputs, want := vectors(t, p)
		for i, in := range inputs {
			got, err := c.Tokenize(ctx, &ipc.Request{Model: name, Prompt: in, AddSpecial: &no, ParseSpecial: &no})
			if in == "" {
				// An empty prompt is refused before the tokenizer.
				if ipc.CodeOf(err) != ipc.CodeBadRequest {
					t.Errorf("%s: empty prompt: %v, want bad_request", name, err)
				}
				continue
			}
			if err != nil || !slices.Equal(got, want[i]) {
				t.Errorf("%s %q: %v %v, want %v", name, in, got, err, want[i])
				continue
			}
			checked++
			// Byte-level BPE vocabularies give back the exact text.
			if strings.Contains(name, "gpt-2") {
				text, err := c.Detokenize(ctx, name, got)
				if err != nil || text != in {
					t.Errorf("%s: detokenize(%v) = %q, %v; want %q", name, got, text, err, in)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d vectors checked", checked)
	}

	// Defaults: BOS added, special text parsed; detokenize writes control
	// tokens as their text.
	ids, err := c.Tokenize(ctx, &ipc.Request{Model: "ggml-vocab-llama-spm", Prompt: "Hello</s>"})
	if err != nil || len(ids) < 3 || ids[0] != 1 || ids[len(ids)-1] != 2 {
		t.Fatalf("tokenize with defaults: %v, %v; want BOS 1 first and EOS 2 parsed last", ids, err)
	}
	if text, err := c.Detokenize(ctx, "ggml-vocab-llama-spm", ids); err != nil || text != "<s> Hello</s>" {
		t.Errorf("detokenize %v = %q, %v; want %q", ids, text, err, "<s> Hello</s>")
	}

	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"id past the vocabulary", func() error {
			_, err := c.Detokenize(ctx, "ggml-vocab-llama-spm", []int32{1, 32000})
			return err
		}, ipc.CodeBadRequest},
		{"negative id", func() error { _, err := c.Detokenize(ctx, "ggml-vocab-llama-spm", []int32{-1}); return err }, ipc.CodeBadRequest},
		{"unknown model", func() error { _, err := c.Tokenize(ctx, &ipc.Request{Model: "nope", Prompt: "x"}); return err }, ipc.CodeUnknownModel},
		{"no prompt", func() error { _, err := c.Tokenize(ctx, &ipc.Request{Model: "ggml-vocab-gpt-2"}); return err }, ipc.CodeBadRequest},
		{"messages without a template", func() error {
			_, err := c.Tokenize(ctx, &ipc.Request{Model: "ggml-vocab-gpt-2", Messages: []ipc.Message{{Role: "user", Content: "hi"}}})
			return err
		}, ipc.CodeBadRequest},
	} {
		if err := tc.call(); ipc.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Pools {
		if len(p.Models) != 0 {
			t.Errorf("pool %s loaded %+v for tokenize", p.Capability, p.Models)
		}
	}
}

// TestChatTemplateTools: a model carrying Qwen2.5's template gets
// messages and tools rendered through it, for tokenize and generate
// alike, byte for byte as jinja2 renders them (the parity test's
// expected output); a forced tool_choice is refused.
func TestChatTemplateTools(t *testing.T) {
	models := t.TempDir()
	withTemplate(t, models, "stories-qwen", "llama/stories260K.gguf", "qwen2.5-tools")
	d := startDaemon(t, models, socketPath(t), "--device", "cpu")
	c := d.client()
	ctx := context.Background()

	var convs map[string]struct {
		Tools    []json.RawMessage `json:"tools"`
		Messages []struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string          `json:"name"`
					Arguments json.RawMessage `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
	}
	var expected struct {
		Templates map[string]struct {
			Renders map[string]struct {
				Text string `json:"text"`
			} `json:"renders"`
		} `json:"templates"`
	}
	for file, v := range map[string]any{"conversations.json": &convs, "expected.json": &expected} {
		b, err := os.ReadFile(filepath.Join(chatTestdata, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	conv := convs["tools-roundtrip"]
	req := &ipc.Request{Model: "stories-qwen"}
	for _, tl := range conv.Tools {
		req.Tools = append(req.Tools, ipc.JSON(tl))
	}
	for _, m := range conv.Messages {
		im := ipc.Message{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			im.ToolCalls = append(im.ToolCalls, ipc.ToolCall{ID: tc.ID, Type: "function",
				Function: ipc.ToolFunction{Name: tc.Function.Name, Arguments: ipc.JSON(tc.Function.Arguments)}})
		}
		req.Messages = append(req.Messages, im)
	}

	f, err := gguf.Open(filepath.Join(models, "stories-qwen.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tok.Encode(expected.Templates["qwen2.5-tools"].Renders["tools-roundtrip"].Text, true, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Tokenize(ctx, req)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("tokenize messages and tools: %v (%d ids), %v; want %d ids", got, len(got), err, len(want))
	}

	req.MaxTokens = 4
	zero := 0.0
	req.Options = &ipc.Options{Temperature: &zero}
	s, err := c.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, stats, err := drain(s); err != nil || stats.PromptTokens != len(want) {
		t.Errorf("generate with tools: %+v, %v; want %d prompt tokens", stats, err, len(want))
	}

	for _, choice := range []string{"function", "sometimes"} { // "function" without a name
		r := *req
		r.ToolChoice = choice
		s, err := c.Generate(ctx, &r)
		if err == nil {
			_, _, _, err = drain(s)
		}
		if ipc.CodeOf(err) != ipc.CodeBadRequest || !strings.Contains(err.Error(), "tool_choice") && !strings.Contains(err.Error(), "function") {
			t.Errorf("tool_choice %q: %v, want bad_request", choice, err)
		}
	}
	// A template's raise_exception is the client's error.
	r := *req
	r.Tools = nil
	r.Messages = []ipc.Message{{Role: "assistant", ToolCalls: []ipc.ToolCall{{Function: ipc.ToolFunction{Name: "f", Arguments: ipc.JSON(`[1]`)}}}}}
	if _, err := c.Tokenize(ctx, &r); ipc.CodeOf(err) != ipc.CodeBadRequest {
		t.Errorf("tool call arguments not an object: %v, want bad_request", err)
	}
}
