package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/ipc"
)

// chatModel is stories260K with a ChatML template, for chat endpoints:
// none of the shared test models carries a chat template.
const chatModel = "stories260K-chat"

// httpModelsDir is modelsDir plus chatModel.
func httpModelsDir(t *testing.T) string {
	dir := modelsDir(t)
	src, err := gguf.Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := gguf.FromFile(src)
	b.SetString("tokenizer.chat_template", "chatml")
	if err := b.WriteFile(filepath.Join(dir, chatModel+".gguf")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unixHTTP is an HTTP client that dials the daemon's socket whatever the
// URL's host.
func unixHTTP(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func (d *daemonProc) openAI() openai.Client {
	return openai.NewClient(option.WithBaseURL("http://vkinferd/v1/"), option.WithAPIKey("unused-on-the-unix-socket"),
		option.WithHTTPClient(unixHTTP(d.socket)), option.WithMaxRetries(0))
}

// post sends body to path on the daemon's socket and returns the status
// and reply.
func (d *daemonProc) post(path string, body string) (int, string) {
	d.t.Helper()
	resp, err := unixHTTP(d.socket).Post("http://vkinferd"+path, "application/json", strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemonProc) get(path string) (int, string) {
	d.t.Helper()
	resp, err := unixHTTP(d.socket).Get("http://vkinferd" + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// referenceText is the text of llama.cpp's first n greedy ids after "Once
// upon a time".
func referenceText(t *testing.T, n int) string {
	_, ids := referenceIDs(t, "stories260K")
	return archtest.Tokenizer(t, "llama/stories260K.gguf").Decode(ids[:n])
}

// TestHTTPOpenAISDK: the official OpenAI Go SDK drives completions (greedy
// output equal to llama.cpp's reference), chat (streamed and not, equal to
// the msgpack generate of the same messages) and embeddings (equal to
// vkctl embed's) over the daemon's Unix socket.
func TestHTTPOpenAISDK(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	ctx := context.Background()
	oa := d.openAI()

	want := referenceText(t, 32)
	if !strings.HasPrefix(want, ", there was a little girl named Lily.") {
		t.Fatalf("reference text %q", want)
	}
	comp, err := oa.Completions.New(ctx, openai.CompletionNewParams{
		Model:       "stories260K",
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens:   openai.Int(32),
		Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := comp.Choices[0].Text; got != want {
		t.Errorf("completion %q, want the reference %q", got, want)
	}
	if comp.Choices[0].FinishReason != "length" || comp.Usage.PromptTokens != 5 || comp.Usage.CompletionTokens != 32 || comp.Usage.TotalTokens != 37 {
		t.Errorf("finish %q, usage %+v", comp.Choices[0].FinishReason, comp.Usage)
	}

	// Streamed completion with usage: the same text in pieces.
	cs := oa.Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model:         "stories260K",
		Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens:     openai.Int(32),
		Temperature:   openai.Float(0),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var streamed strings.Builder
	var usage openai.CompletionUsage
	for cs.Next() {
		c := cs.Current()
		for _, ch := range c.Choices {
			streamed.WriteString(ch.Text)
		}
		if c.Usage.TotalTokens > 0 {
			usage = c.Usage
		}
	}
	if err := cs.Err(); err != nil || streamed.String() != want || usage.CompletionTokens != 32 {
		t.Errorf("streamed completion %q, usage %+v, %v", streamed.String(), usage, err)
	}

	// Chat: the msgpack generate of the same messages is the expectation.
	msgs := []ipc.Message{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: "Once upon a time"}}
	zero := 0.0
	s, err := d.client().Generate(ctx, &ipc.Request{Model: chatModel, Messages: msgs, MaxTokens: 24, Options: &ipc.Options{Temperature: &zero}})
	if err != nil {
		t.Fatal(err)
	}
	wantChat, _, wantStats, err := drain(s)
	if err != nil || wantChat == "" {
		t.Fatalf("msgpack chat: %q, %v", wantChat, err)
	}
	params := openai.ChatCompletionNewParams{
		Model:       chatModel,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You tell stories."), openai.UserMessage("Once upon a time")},
		MaxTokens:   openai.Int(24),
		Temperature: openai.Float(0),
	}
	chat, err := oa.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := chat.Choices[0].Message.Content; got != wantChat || chat.Usage.PromptTokens != int64(wantStats.PromptTokens) || chat.Usage.CompletionTokens != 24 {
		t.Errorf("chat %q (usage %+v), want %q (%d prompt tokens)", got, chat.Usage, wantChat, wantStats.PromptTokens)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := oa.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != wantChat || acc.Choices[0].FinishReason != "length" || acc.Usage.CompletionTokens != 24 || chunks < 24 {
		t.Errorf("streamed chat %q in %d chunks, finish %q, usage %+v; want %q", got, chunks, acc.Choices[0].FinishReason, acc.Usage, wantChat)
	}

	// Embeddings against vkctl embed.
	inputs := []string{"a sentence", "Once upon a time"}
	emb, err := oa.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "all-MiniLM-L6-v2-Q4_K_M",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(vkctlBin, "--socket", d.socket, "embed", "-m", "all-MiniLM-L6-v2-Q4_K_M", inputs[0], inputs[1]).Output()
	if err != nil {
		t.Fatalf("vkctl embed: %v", err)
	}
	var ref [][]float32
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("vkctl embed output %q: %v", out, err)
	}
	if len(emb.Data) != 2 || len(ref) != 2 {
		t.Fatalf("%d and %d vectors", len(emb.Data), len(ref))
	}
	// [CLS] a sentence [SEP], and [CLS] Once upon a time [SEP].
	if emb.Usage.PromptTokens != 4+6 || emb.Usage.TotalTokens != 4+6 {
		t.Errorf("embeddings usage: %d prompt and %d total tokens, want 10 and 10", emb.Usage.PromptTokens, emb.Usage.TotalTokens)
	}
	for i := range ref {
		got := make([]float32, len(emb.Data[i].Embedding))
		for j, x := range emb.Data[i].Embedding {
			got[j] = float32(x)
		}
		if emb.Data[i].Index != int64(i) || !slices.Equal(got, ref[i]) {
			t.Errorf("embedding %d differs from vkctl embed's", i)
		}
	}

	// base64 and dimensions, which the SDK passes through.
	code, body := d.post("/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":"a sentence","encoding_format":"base64","dimensions":64}`)
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &b64); code != 200 || err != nil || len(b64.Data) != 1 {
		t.Fatalf("base64: %d %s", code, body)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 64*4 {
		t.Fatalf("base64 embedding: %d bytes, %v", len(raw), err)
	}
	short, err := d.client().Embed(ctx, &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: []string{"a sentence"}, Dimensions: 64})
	if err != nil {
		t.Fatal(err)
	}
	for j, want := range short.Embeddings[0] {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); got != want {
			t.Fatalf("base64 value %d: %v, want %v", j, got, want)
		}
	}

	models, err := oa.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{"all-MiniLM-L6-v2-Q4_K_M", "llama-2-tiny-random", "stories260K", chatModel}; !slices.Equal(ids, want) {
		t.Errorf("models %v, want %v", ids, want)
	}
}

// TestHTTPEmbedUsage: embeddings in both dialects count the tokens the
// model ran, [CLS] and [SEP] included, as OpenAI's usage and Ollama's
// prompt_eval_count. Ollama truncates by default, so its long input
// counts as the 512 tokens of the context. The uncut counts are those of
// llama.cpp's ids (tokenize.tsv); "word " 600 times is 602 tokens.
// /metrics adds them up as vkinfer_tokens_total{direction="embedded"}.
func TestHTTPEmbedUsage(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t), "--device", "cpu")
	long := strings.Repeat("word ", 600)
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"openai, one input", "/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":"a sentence"}`, 4},
		{"openai, several inputs", "/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":["a sentence","Once upon a time"]}`, 4 + 6},
		{"ollama, one input", "/api/embed", `{"model":"all-MiniLM-L6-v2:Q4_K_M","input":"a sentence"}`, 4},
		{"ollama, several inputs", "/api/embed", `{"model":"all-MiniLM-L6-v2:Q4_K_M","input":["a sentence","Once upon a time"]}`, 4 + 6},
		{"ollama, an input cut to the context", "/api/embed", `{"model":"all-MiniLM-L6-v2:Q4_K_M","input":["a sentence","` + long + `"]}`, 4 + 512},
	} {
		code, body := d.post(tc.path, tc.body)
		var reply struct {
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
				TotalTokens  int `json:"total_tokens"`
			} `json:"usage"`
			PromptEvalCount int `json:"prompt_eval_count"`
		}
		if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil {
			t.Errorf("%s: %d %.200s", tc.name, code, body)
			continue
		}
		got := []int{reply.Usage.PromptTokens, reply.Usage.TotalTokens}
		if tc.path == "/api/embed" {
			got = []int{reply.PromptEvalCount}
		}
		for _, n := range got {
			if n != tc.want {
				t.Errorf("%s: token counts %v, want %d", tc.name, got, tc.want)
				break
			}
		}
	}
	// The metrics count all five requests: 4 + 10 + 4 + 10 + 516.
	_, metrics := d.get("/metrics")
	if want := `vkinfer_tokens_total{direction="embedded"} 544`; !strings.Contains(metrics, want) {
		t.Errorf("metrics: want %s, got:\n%s", want, grepLines(metrics, "vkinfer_tokens_total"))
	}
}

// TestHTTPErrors: the SDK sees OpenAI's error shape with our codes and
// statuses; n > 1 and unimplemented fields are clear 400s; malformed and
// oversized bodies are 4xx and the daemon serves on.
func TestHTTPErrors(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	oa := d.openAI()
	_, err := oa.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: "nope", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")},
	})
	var apiErr *openai.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != ipc.CodeUnknownModel || apiErr.Type != "invalid_request_error" {
		t.Errorf("unknown model: %v", err)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"n=2", "/v1/completions", `{"model":"stories260K","prompt":"x","n":2}`, 400, "bad_request", "n=2 is not supported"},
		{"malformed", "/v1/chat/completions", `{"model":`, 400, "malformed", "malformed JSON"},
		{"wrong type", "/v1/completions", `{"model":"stories260K","prompt":"x","max_tokens":"many"}`, 400, "bad_request", `field "max_tokens": want an integer, got string`},
		{"tools", "/v1/chat/completions", `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "bad_request", "renders no tools"},
		{"logit_bias", "/v1/chat/completions", `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}}`, 400, "bad_request", "logit_bias is not implemented"},
		{"no template", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"hi"}]}`, 400, "bad_request", "no chat template"},
		{"context full", "/v1/completions", `{"model":"stories260K","prompt":"` + strings.Repeat("once upon a time ", 1000) + `"}`, 400, "context_full", ""},
		{"embed model", "/v1/embeddings", `{"model":"stories260K-nope","input":"x"}`, 404, "unknown_model", ""},
		{"no such path", "/v1/nothing", `{}`, 404, "not_found", ""},
	} {
		code, body := d.post(tc.path, tc.body)
		var e struct {
			Error struct {
				Message, Type, Code string
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != tc.status || e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.message) {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	code, body := d.get("/v1/completions")
	if code != 405 || !strings.Contains(body, "method_not_allowed") {
		t.Errorf("GET /v1/completions: %d %s", code, body)
	}

	// A chunked body past 16 MiB: 413, and the daemon serves on.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"model":"stories260K","prompt":"`))
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for i := 0; i < 17; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Write([]byte(`"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://vkinferd/v1/completions", pr)
	req.ContentLength = -1 // chunked
	resp, err := unixHTTP(d.socket).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pr.CloseWithError(io.ErrClosedPipe)
	if resp.StatusCode != 413 || !strings.Contains(string(b), "too_large") {
		t.Errorf("chunked 17 MiB body: %d %s", resp.StatusCode, b)
	}
	if err := d.client().Ping(context.Background()); err != nil {
		t.Errorf("msgpack after the oversized body: %v", err)
	}
	if code, _ := d.get("/health"); code != 200 {
		t.Errorf("health after the oversized body: %d", code)
	}
}

func errorsAs(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestHTTPCancelOnDisconnect: a client that closes its HTTP connection
// mid-stream cancels its generation at once, as a msgpack cancel does;
// the worker is freed and the request counted as canceled.
func TestHTTPCancelOnDisconnect(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	c := d.client()
	for _, tc := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"stories260K","prompt":"Once","stream":true}`},
		{"/api/generate", `{"model":"stories260K","prompt":"Once","raw":true}`},
	} {
		nc, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tc.path, len(tc.body), tc.body)
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", tc.path, resp, err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n') // the first event
		if err != nil || line == "" {
			t.Fatalf("%s: first event %q, %v", tc.path, line, err)
		}
		if runningRequests(t, c) == 0 {
			t.Fatalf("%s: the generation (until the context is full) is not running", tc.path)
		}
		nc.Close()
		waitIdle(t, c, tc.path+" disconnect")
	}
	_, metrics := d.get("/metrics")
	if !strings.Contains(metrics, `vkinfer_requests_total{op="generate",outcome="canceled"} 2`) {
		t.Errorf("metrics do not count the two cancelled generations:\n%s", grepLines(metrics, "vkinfer_requests_total"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHTTPOllama: Ollama's endpoints with its names, NDJSON streaming, done
// stats, keep_alive 0 and the name:tag rule.
func TestHTTPOllama(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	want := referenceText(t, 16)

	code, body := d.post("/api/generate", `{"model":"stories260K:latest","prompt":"Once upon a time","raw":true,"options":{"temperature":0,"num_predict":16}}`)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var text strings.Builder
	var last map[string]any
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("NDJSON line %q: %v", l, err)
		}
		text.WriteString(obj["response"].(string))
		last = obj
	}
	if code != 200 || text.String() != want || len(lines) != 17 {
		t.Errorf("generate: %d, %d lines, %q; want %q", code, len(lines), text.String(), want)
	}
	if last["done"] != true || last["done_reason"] != "length" || last["eval_count"] != 16.0 || last["prompt_eval_count"] != 5.0 ||
		last["model"] != "stories260K:latest" || last["total_duration"].(float64) <= 0 || last["eval_duration"].(float64) <= 0 {
		t.Errorf("done object %v", last)
	}

	code, body = d.post("/api/chat", `{"model":"`+chatModel+`","stream":false,"messages":[{"role":"user","content":"Once upon a time"}],"options":{"temperature":0,"num_predict":8}}`)
	var chat struct {
		Message   struct{ Role, Content string }
		Done      bool
		EvalCount int `json:"eval_count"`
	}
	if err := json.Unmarshal([]byte(body), &chat); code != 200 || err != nil || !chat.Done || chat.EvalCount != 8 || chat.Message.Role != "assistant" || chat.Message.Content == "" {
		t.Errorf("chat: %d %s", code, body)
	}

	code, body = d.post("/api/embed", `{"model":"all-MiniLM-L6-v2:Q4_K_M","input":["a sentence"]}`)
	var emb struct{ Embeddings [][]float32 }
	res, err := d.client().Embed(context.Background(), &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: []string{"a sentence"}})
	if json.Unmarshal([]byte(body), &emb); code != 200 || err != nil || len(emb.Embeddings) != 1 || !slices.Equal(emb.Embeddings[0], res.Embeddings[0]) {
		t.Errorf("embed (name:tag): %d %.200s", code, body)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		has                      []string
	}{
		{"tags", "GET", "/api/tags", "", 200, []string{`"name":"stories260K:latest"`, `"format":"gguf"`, `"family":"llama"`, `"parameter_size":"292.8K"`}},
		{"ps", "GET", "/api/ps", "", 200, []string{`"name":"stories260K:latest"`, `"name":"all-MiniLM-L6-v2-Q4_K_M:latest"`, `"expires_at"`}},
		{"version", "GET", "/api/version", "", 200, []string{`{"version":"` + version + `"}`}},
		{"show", "POST", "/api/show", `{"model":"stories260K"}`, 200, []string{`"capabilities":["completion","embedding"]`, `"general.architecture":"llama"`}},
		{"show unknown", "POST", "/api/show", `{"model":"nope:7b"}`, 404, []string{`{"error":"model \"nope:7b\" not found"}`}},
		{"bad option", "POST", "/api/generate", `{"model":"stories260K","prompt":"x","options":{"mirostat":2}}`, 400, []string{`option \"mirostat\" is not implemented`}},
		{"option type", "POST", "/api/generate", `{"model":"stories260K","prompt":"x","options":{"temperature":"hot"}}`, 400, []string{`option \"temperature\"`}},
		{"keep_alive", "POST", "/api/generate", `{"model":"stories260K","prompt":"x","raw":true,"stream":false,"keep_alive":"1h","options":{"num_predict":2}}`, 200, []string{`"done":true`}},
		{"ps after keep_alive", "GET", "/api/ps", "", 200, []string{`"stories260K:latest"`}},
		{"unload", "POST", "/api/generate", `{"model":"stories260K","keep_alive":0}`, 200, []string{`"done_reason":"unload"`}},
		{"ps after unload", "GET", "/api/ps", "", 200, []string{`"all-MiniLM-L6-v2-Q4_K_M:latest"`}},
		{"load", "POST", "/api/chat", `{"model":"stories260K"}`, 200, []string{`"done_reason":"load"`}},
	} {
		var code int
		var body string
		if tc.method == "GET" {
			code, body = d.get(tc.path)
		} else {
			code, body = d.post(tc.path, tc.body)
		}
		if code != tc.status {
			t.Errorf("%s: %d %s", tc.name, code, body)
			continue
		}
		for _, h := range tc.has {
			if !strings.Contains(body, h) {
				t.Errorf("%s: %s lacks %s", tc.name, body, h)
			}
		}
		if tc.name == "ps after unload" && strings.Contains(body, `"stories260K:latest"`) {
			t.Errorf("keep_alive 0 did not unload: %s", body)
		}
	}
}

// TestHTTPTCP: --http listens on loopback TCP, where every request needs
// the bearer token of the 0600 file that vkctl token prints; a
// non-loopback address is refused without --http-allow-remote.
func TestHTTPTCP(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu", "--http", "127.0.0.1:0")
	addr := waitLog(t, d, regexp.MustCompile(`"http listening" addr=(127\.0\.0\.1:\d+)`))
	tokPath := filepath.Join(filepath.Dir(d.socket), "http-token")
	st, err := os.Stat(tokPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", st, err)
	}
	out, err := exec.Command(vkctlBin, "--socket", d.socket, "token").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	file, _ := os.ReadFile(tokPath)
	if len(token) != 64 || token != strings.TrimSpace(string(file)) {
		t.Fatalf("vkctl token %q, file %q", token, file)
	}
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic " + token, 401}, {"Bearer " + token, 200}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/models", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.status == 401 && !strings.Contains(string(b), "vkctl token")) {
			t.Errorf("auth %q: %d %s", tc.auth, resp.StatusCode, b)
		}
	}
	oa := openai.NewClient(option.WithBaseURL("http://"+addr+"/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))
	comp, err := oa.Completions.New(context.Background(), openai.CompletionNewParams{
		Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(8), Temperature: openai.Float(0),
	})
	if err != nil || comp.Choices[0].Text != referenceText(t, 8) {
		t.Errorf("completion over TCP: %v, %v", comp, err)
	}

	cmd := exec.Command(daemonBin, "--socket", socketPath(t), "--models-dir", t.TempDir(), "--http", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--http-allow-remote") {
		t.Errorf("non-loopback --http: %v %s", err, out)
	}
}

// waitLog waits for re in the daemon's log and returns its first group.
func waitLog(t testing.TB, d *daemonProc, re *regexp.Regexp) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(d.log.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v in the log:\n%s", re, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTPHealthShutdown: /health is 200 while the daemon serves and 503
// once SIGTERM starts the drain, while an HTTP stream is still running.
func TestHTTPHealthShutdown(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu")
	hc := unixHTTP(d.socket) // keeps its connection alive across requests
	health := func() int {
		resp, err := hc.Get("http://vkinferd/health")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != 200 {
		t.Fatalf("health %d", code)
	}
	resp, err := unixHTTP(d.socket).Post("http://vkinferd/v1/completions", "application/json",
		strings.NewReader(`{"model":"stories260K","prompt":"Once","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for health() != 503 {
		if time.Now().After(deadline) {
			t.Fatal("health stayed 200 after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("the stream in flight did not finish: %.200q", rest[max(0, len(rest)-200):])
	}
	select {
	case <-d.exited:
		if d.err != nil {
			t.Errorf("exit: %v", d.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit")
	}
}

// TestHTTPReadmeExamples runs the README's curl examples against a
// daemon on $XDG_RUNTIME_DIR/vkinfer/vkinferd.sock with --http (on a free
// port in place of 11435).
func TestHTTPReadmeExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("curl missing in CI: %v", err)
		}
		t.Skipf("curl not installed: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- http-examples")
	if !ok {
		t.Fatal("README has no http-examples block")
	}
	_, block, _ = strings.Cut(block, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var setup string
	var curls []string
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "S="):
			setup = line
		case strings.HasPrefix(line, "curl "):
			curls = append(curls, line)
		}
	}
	if setup == "" || len(curls) < 8 {
		t.Fatalf("README examples: setup %q, %d curl lines", setup, len(curls))
	}

	runtimeDir := t.TempDir()
	sock := filepath.Join(runtimeDir, "vkinfer", "vkinferd.sock")
	d := startDaemon(t, httpModelsDir(t), sock, "--device", "cpu", "--http", "127.0.0.1:0")
	addr := waitLog(t, d, regexp.MustCompile(`"http listening" addr=(127\.0\.0\.1:\d+)`))
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "PATH="+filepath.Dir(vkctlBin)+":"+os.Getenv("PATH"))
	want := map[int]string{
		0: `"id":"stories260K"`,
		1: referenceText(t, 16),
		2: "data: [DONE]",
		3: `"done":true`,
		4: `"object":"embedding"`,
		5: `{"status":"ok"}`,
		6: `vkinfer_requests_total{op="generate",outcome="ok"} 3`,
		7: `"stories260K:latest"`,
	}
	for i, line := range curls {
		line = strings.ReplaceAll(line, "127.0.0.1:11435", addr)
		cmd := exec.Command("bash", "-c", "set -eo pipefail\n"+setup+"\n"+line)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want[i]) {
			t.Errorf("README example %d: %v\n%s\n%.500s", i, err, line, out)
		}
	}
}

// TestHTTPJSClients runs test/js/clients.mjs, the npm packages ollama and
// openai (pinned in test/js/package-lock.json, installed by
// contrib/setup-debian.sh), against the daemon's TCP listener.
func TestHTTPJSClients(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "test", "js")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "ollama"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or test/js/node_modules missing in CI (contrib/setup-debian.sh installs them): %v", err)
		}
		t.Skipf("node or test/js/node_modules missing (npm ci --prefix test/js): %v", err)
	}
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu", "--http", "127.0.0.1:0")
	addr := waitLog(t, d, regexp.MustCompile(`"http listening" addr=(127\.0\.0\.1:\d+)`))
	token, err := os.ReadFile(filepath.Join(filepath.Dir(d.socket), "http-token"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "clients.mjs"))
	cmd.Env = append(os.Environ(), "VKINFER_URL=http://"+addr, "VKINFER_TOKEN="+strings.TrimSpace(string(token)),
		"VKINFER_CHAT_MODEL="+chatModel, "VKINFER_EXPECT="+referenceText(t, 16))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "js clients: 10 passed, 0 failed") {
		t.Errorf("clients.mjs: %v\n%s", err, out)
	}
}

// TestHTTPOtherUserRefused: HTTP on the socket passes the same peer check
// as msgpack: curl as another user gets no reply.
func TestHTTPOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("vkinfer-httpother-%d", os.Getpid()))
	os.RemoveAll(dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	d := startDaemon(t, modelsDir(t), sock)
	for _, p := range []string{dir, sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", curl, "-sS", "--unix-socket", sock, "http://localhost/v1/models").CombinedOutput()
	if err == nil || strings.Contains(string(out), "stories260K") {
		t.Errorf("curl as nobody: %v\n%s", err, out)
	}
	// The daemon may log the refusal just after curl sees the close.
	waitLog(t, d, regexp.MustCompile(`(refused connection).*uid 65534`))
	if code, body := d.get("/v1/models"); code != 200 || !strings.Contains(body, "stories260K") {
		t.Errorf("own user after a foreign one: %d %s", code, body)
	}
}

// TestHTTPBusy: with the model's queue full, both dialects answer 429
// (OpenAI's rate_limit_error with code busy).
func TestHTTPBusy(t *testing.T) {
	d := startDaemon(t, httpModelsDir(t), socketPath(t), "--device", "cpu", "--max-queue", "1")
	c := d.client()
	stream := func() (*http.Response, error) {
		return unixHTTP(d.socket).Post("http://vkinferd/v1/completions", "application/json",
			strings.NewReader(`{"model":"stories260K","prompt":"Once","stream":true}`))
	}
	running, err := stream() // until the context is full, or its client goes
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(running.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan *http.Response, 1)
	go func() { // waits in the queue: its headers come with its first token
		r, _ := stream()
		waiting <- r
	}()
	defer func() {
		running.Body.Close() // frees the worker for the waiting one
		if r := <-waiting; r != nil {
			r.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for queued(t, c) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second request did not queue")
		}
		time.Sleep(time.Millisecond)
	}
	code, body := d.post("/v1/completions", `{"model":"stories260K","prompt":"Once"}`)
	if code != 429 || !strings.Contains(body, `"type":"rate_limit_error"`) || !strings.Contains(body, `"code":"busy"`) {
		t.Errorf("OpenAI while busy: %d %s", code, body)
	}
	code, body = d.post("/api/generate", `{"model":"stories260K","prompt":"Once","raw":true}`)
	if code != 429 || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("Ollama while busy: %d %s", code, body)
	}
}

func queued(t *testing.T, c *ipc.Client) int {
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range st.Pools {
		for _, m := range p.Models {
			n += m.Queued
		}
	}
	return n
}
