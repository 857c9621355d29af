package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/ipc"
)

// startDaemon builds and runs vkinferd on a temp socket with the shared
// models, for vkctl to talk to; setup may add files to the models folder.
func startDaemon(t *testing.T, setup ...func(models string)) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "vkinferd")
	if out, err := exec.Command("go", "build", "-o", bin, "../vkinferd").CombinedOutput(); err != nil {
		t.Fatalf("building vkinferd: %v\n%s", err, out)
	}
	models := filepath.Join(dir, "models")
	os.Mkdir(models, 0o755)
	for name, rel := range map[string]string{"stories260K": "llama/stories260K.gguf", "minilm": "embed/all-MiniLM-L6-v2-Q4_K_M.gguf", "llama3-Q3_K_M": "arch/llama3-Q3_K_M.gguf"} {
		if err := os.Symlink(testmodels.Model(t, rel), filepath.Join(models, name+".gguf")); err != nil {
			t.Fatal(err)
		}
	}
	writeYarnModel(t, filepath.Join(models, "yarn.gguf"))
	for _, f := range setup {
		f(models)
	}
	sock := filepath.Join(dir, "run", "d.sock")
	cmd := exec.Command(bin, "--socket", sock, "--models-dir", models)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := ipc.Dial(context.Background(), sock); err == nil {
			c.Close()
			return sock
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("daemon did not start")
		}
	}
}

// writeYarnModel writes llama3.gguf with YaRN rope scaling, which vkinfer
// does not implement: the daemon must list it as refused and never run it.
func writeYarnModel(t *testing.T, path string) {
	t.Helper()
	src, err := gguf.Open(testmodels.Model(t, "arch/llama3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := gguf.FromFile(src)
	b.SetString("llama.rope.scaling.type", "yarn")
	b.SetFloat32("llama.rope.scaling.factor", 4)
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func vkctl(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, _, stderr := vkctl(context.Background(), "--socket", sock, "ping")
	if code != exitNoDaemon || !strings.Contains(stderr, "daemon not running at "+sock) || !strings.Contains(stderr, "systemctl --user start vkinferd.socket") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"fly"}, {"prompt", "--bogus", "x"}, {"load"}, {"models", "extra"}, {"prompt", "--socket", "/x", "hi"}} {
		if code, _, _ := vkctl(context.Background(), args...); code != exitUsage {
			t.Errorf("vkctl %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestCommands(t *testing.T) {
	sock := startDaemon(t)
	ctx := context.Background()

	code, out, stderr := vkctl(ctx, "--socket", sock, "prompt", "-m", "stories260K", "--temperature", "0", "--repeat-penalty", "1", "-n", "12", "-v", "Once upon a time")
	if code != exitOK || !strings.HasPrefix(out, ", there was a little girl named Lily.") || !strings.Contains(stderr, "generation:        12 tokens") {
		t.Errorf("prompt: exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, _ = vkctl(ctx, "--socket", sock, "embed", "-m", "minilm", "a sentence")
	var vec []float32
	if code != exitOK || json.Unmarshal([]byte(out), &vec) != nil || len(vec) != 384 {
		t.Errorf("embed: exit %d, %d values from %.60q", code, len(vec), out)
	}
	// The refused model keeps its header's facts, and its reason goes
	// below the table.
	code, out, _ = vkctl(ctx, "--socket", sock, "models")
	wantModels := `NAME           ARCH   PARAMS  CONTEXT  SIZE      TYPES                                      CAPABILITIES    LOADED
llama3-Q3_K_M  llama  2.36M   512      1.1 MiB   Q3_K×16 Q4_K×10 Q6_K×1 Q5_K×2 F32×10       generate,embed  no
minilm         bert   22.6M   512      20.0 MiB  Q8_0×3 Q5_0×28 Q4_K×4 Q6_K×2 F16×1 F32×63  embed           yes
stories260K    llama  293K    2048     1.1 MiB   F32×48                                     generate,embed  yes
yarn           llama  2.36M   512      4.5 MiB   F16×29 F32×10                              refused         no
yarn refused: llama: model: unsupported: llama.rope.scaling.type = "yarn" (implemented: ["none" "linear"])
`
	if code != exitOK || out != wantModels {
		t.Errorf("models: exit %d\n got:\n%s\nwant:\n%s", code, out, wantModels)
	}
	code, _, stderr = vkctl(ctx, "--socket", sock, "prompt", "-m", "yarn", "hi")
	if code != exitFailed || !strings.Contains(stderr, "unavailable") || !strings.Contains(stderr, `llama.rope.scaling.type = "yarn"`) {
		t.Errorf("refused model: exit %d, %q", code, stderr)
	}
	code, out, _ = vkctl(ctx, "--socket", sock, "ps")
	if code != exitOK || !strings.Contains(out, "stories260K") || !strings.Contains(out, "minilm") {
		t.Errorf("ps: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"unload", "minilm"}, {"load", "minilm"}, {"ping"}} {
		if code, out, stderr := vkctl(ctx, append([]string{"--socket", sock}, args...)...); code != exitOK {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	code, _, stderr = vkctl(ctx, "--socket", sock, "prompt", "-m", "nope", "hi")
	if code != exitFailed || !strings.Contains(stderr, "unknown_model") {
		t.Errorf("unknown model: exit %d, %q", code, stderr)
	}
}

// cancelOnWrite cancels a context at the first output, as Ctrl-C would
// while tokens stream.
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel()
	return w.buf.Write(p)
}

func TestInterrupt(t *testing.T) {
	sock := startDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &cancelOnWrite{cancel: cancel}
	var errb bytes.Buffer
	code := run(ctx, []string{"--socket", sock, "prompt", "-m", "stories260K", "Once upon a time"}, strings.NewReader(""), out, &errb)
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitInterrupted, errb.String())
	}
	// The daemon cancelled the generation: the model is idle again.
	c, err := ipc.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		busy := 0
		for _, p := range st.Pools {
			for _, m := range p.Models {
				busy += m.Running + m.Queued
			}
		}
		if busy == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("generation still running after Ctrl-C: %+v", st.Pools)
		}
	}
}

// recorder is an ipc.Handler that keeps the generate requests it gets.
type recorder struct {
	mu   sync.Mutex
	reqs []*ipc.Request
}

func (h *recorder) Generate(_ context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	return &ipc.Stats{StopReason: "max_tokens"}, emit(ipc.Chunk{Text: "x", Tokens: []int32{1}})
}
func (h *recorder) Embed(context.Context, *ipc.Request) (ipc.EmbedResult, error) {
	return ipc.EmbedResult{}, nil
}
func (h *recorder) Models(context.Context) ([]ipc.ModelInfo, error) { return nil, nil }
func (h *recorder) Load(context.Context, *ipc.Request) error        { return nil }
func (h *recorder) Unload(context.Context, *ipc.Request) error      { return nil }
func (h *recorder) Status(context.Context) (*ipc.Status, error)     { return &ipc.Status{}, nil }

// TestPromptSendsOnlyGivenOptions: vkctl sends the sampling options on its
// command line and no others, so the daemon's defaults apply to the rest;
// in particular --temperature 0 alone sends no penalty.
func TestPromptSendsOnlyGivenOptions(t *testing.T) {
	h := &recorder{}
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := ipc.NewServer(h, "test")
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	seed, maxSeed := uint64(7), uint64(math.MaxUint64)
	for _, tc := range []struct {
		flags []string
		want  *ipc.Options
	}{
		{nil, nil},
		{[]string{"--temperature", "0"}, &ipc.Options{Temperature: f(0)}},
		{[]string{"--temperature", "0", "--repeat-penalty", "1.1"}, &ipc.Options{Temperature: f(0), RepeatPenalty: f(1.1)}},
		{[]string{"--seed", "-1"}, nil},
		{[]string{"--seed", "18446744073709551615"}, &ipc.Options{Seed: &maxSeed}},
		{[]string{"--top-k", "5", "--top-p", "0.5", "--min-p", "0.1", "--repeat-last-n", "-1", "--presence-penalty", "0.5", "--frequency-penalty", "0.25", "--seed", "7"},
			&ipc.Options{TopK: i(5), TopP: f(0.5), MinP: f(0.1), RepeatLastN: i(-1), PresencePenalty: f(0.5), FrequencyPenalty: f(0.25), Seed: &seed}},
	} {
		h.mu.Lock()
		h.reqs = nil
		h.mu.Unlock()
		args := append(append([]string{"--socket", sock, "prompt", "-m", "m"}, tc.flags...), "hi")
		if code, _, stderr := vkctl(context.Background(), args...); code != exitOK {
			t.Fatalf("%v: exit %d, %s", tc.flags, code, stderr)
		}
		h.mu.Lock()
		got := h.reqs
		h.mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%v: %d requests", tc.flags, len(got))
		}
		if !reflect.DeepEqual(got[0].Options, tc.want) {
			t.Errorf("%v: options %s, want %s", tc.flags, optionsString(got[0].Options), optionsString(tc.want))
		}
	}
	for _, bad := range []string{"-2", "x", "18446744073709551616"} {
		if code, _, _ := vkctl(context.Background(), "--socket", sock, "prompt", "-m", "m", "--seed", bad, "hi"); code != exitUsage {
			t.Errorf("--seed %s: exit %d, want %d", bad, code, exitUsage)
		}
	}
}

// optionsString shows an Options' set fields.
func optionsString(o *ipc.Options) string {
	b, _ := json.Marshal(o)
	return string(b)
}

func TestHumanCount(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "-"}, {7, "7"}, {999, "999"}, {1000, "1.00K"}, {292800, "293K"}, {2361616, "2.36M"},
		{22565376, "22.6M"}, {999_600, "1.00M"}, {6_738_415_616, "6.74B"},
	} {
		if got := humanCount(tc.n); got != tc.want {
			t.Errorf("humanCount(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestToken: vkctl token prints the token file beside the socket, and
// refuses one that others could read.
func TestToken(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "vkinferd.sock")
	ctx := context.Background()
	if code, _, stderr := vkctl(ctx, "--socket", sock, "token"); code != exitFailed || !strings.Contains(stderr, "--http") {
		t.Errorf("no token file: exit %d, %q", code, stderr)
	}
	path := filepath.Join(dir, "http-token")
	if err := os.WriteFile(path, []byte("abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := vkctl(ctx, "--socket", sock, "token"); code != exitOK || out != "abc123\n" {
		t.Errorf("token: exit %d, %q, %q", code, out, stderr)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := vkctl(ctx, "--socket", sock, "token"); code != exitFailed || !strings.Contains(stderr, "mode 0600") {
		t.Errorf("readable token file: exit %d, %q", code, stderr)
	}
}
