package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vmihailenco/msgpack/v5"
)

// daemonBin is the vkinferd built once for these tests; vkctlBin the
// vkctl the HTTP tests compare with.
var daemonBin, vkctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vkinferd-test")
	if err != nil {
		panic(err)
	}
	daemonBin = filepath.Join(dir, "vkinferd")
	if out, err := exec.Command("go", "build", "-o", daemonBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building vkinferd: %v\n%s", err, out)
		os.Exit(1)
	}
	vkctlBin = filepath.Join(dir, "vkctl")
	if out, err := exec.Command("go", "build", "-o", vkctlBin, "../vkctl").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building vkctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type daemonProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	socket string
	models string
	log    *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// modelsDir links the shared test models into a fresh directory.
func modelsDir(t *testing.T) string {
	dir := t.TempDir()
	for name, rel := range map[string]string{
		"stories260K":             "llama/stories260K.gguf",
		"llama-2-tiny-random":     "llama/llama-2-tiny-random.gguf",
		"all-MiniLM-L6-v2-Q4_K_M": "embed/all-MiniLM-L6-v2-Q4_K_M.gguf",
	} {
		if err := os.Symlink(testmodels.Model(t, rel), filepath.Join(dir, name+".gguf")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startDaemon(t testing.TB, models, socket string, extra ...string) *daemonProc {
	t.Helper()
	return startDaemonEnv(t, nil, models, socket, extra...)
}

// startDaemonEnv starts the daemon with env added to the test's own.
func startDaemonEnv(t testing.TB, env []string, models, socket string, extra ...string) *daemonProc {
	t.Helper()
	args := append([]string{"--socket", socket, "--models-dir", models, "--log-level", "debug"}, extra...)
	cmd := exec.Command(daemonBin, args...)
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir()), env...)
	log := &syncBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{t: t, cmd: cmd, socket: socket, models: models, log: log, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := ipc.Dial(context.Background(), socket)
		if err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not come up: %v\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (d *daemonProc) client() *ipc.Client {
	c, err := ipc.Dial(context.Background(), d.socket)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

func referenceIDs(t *testing.T, name string) (prompt, generated []int32) {
	b, err := os.ReadFile(testmodels.Reference(t, name+"/cpu.completion.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		PromptIDs    []int32 `json:"prompt_ids"`
		GeneratedIDs []int32 `json:"generated_ids"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref.PromptIDs, ref.GeneratedIDs
}

// greedy asks for llama.cpp's reference decoding: temperature 0 and
// nothing else, which is the argmax of the raw logits.
func greedy(n int) *ipc.Request {
	zero := 0.0
	return &ipc.Request{Model: "stories260K", Prompt: "Once upon a time", MaxTokens: n,
		Options: &ipc.Options{Temperature: &zero}}
}

func drain(s *ipc.Stream) (string, []int32, *ipc.Stats, error) {
	var text strings.Builder
	var ids []int32
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return text.String(), ids, s.Stats(), nil
		}
		if err != nil {
			return text.String(), ids, nil, err
		}
		text.WriteString(ch.Text)
		ids = append(ids, ch.Tokens...)
	}
}

func socketPath(t *testing.T) string { return filepath.Join(t.TempDir(), "run", "vkinferd.sock") }

// TestGenerateMatchesReference: greedy generation through the whole
// service (socket, pool, engine, tokenizer, model) gives llama.cpp's ids,
// from many connections at once.
func TestGenerateMatchesReference(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t), "--parallel", "2")
	_, want := referenceIDs(t, "stories260K")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for conn := 0; conn < 3; conn++ {
		c := d.client()
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := c.Generate(context.Background(), greedy(32))
				if err != nil {
					errs <- err
					return
				}
				text, ids, stats, err := drain(s)
				switch {
				case err != nil:
					errs <- err
				case !slices.Equal(ids, want[:32]):
					errs <- fmt.Errorf("ids %v, want %v", ids, want[:32])
				case !strings.HasPrefix(text, ", there was a little girl named Lily."):
					errs <- fmt.Errorf("text %q", text)
				case stats.StopReason != "max_tokens" || stats.PromptTokens != 5 || stats.GeneratedTokens != 32:
					errs <- fmt.Errorf("stats %+v", stats)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTemperatureZero: a request that sets only temperature 0 gets all 64
// tokens of llama.cpp's greedy run, though a repeat penalty of 1.1 would
// change one; a repeat penalty the request sets is applied.
func TestTemperatureZero(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	c := d.client()
	_, ref := referenceIDs(t, "stories260K")
	s, err := c.Generate(context.Background(), greedy(64))
	if err != nil {
		t.Fatal(err)
	}
	if _, ids, _, err := drain(s); err != nil || !slices.Equal(ids, ref) {
		t.Errorf("temperature 0: %v\n got %v\nwant %v", err, ids, ref)
	}
	req := greedy(64)
	penalty := 1.1
	req.Options.RepeatPenalty = &penalty
	if s, err = c.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, ids, _, err := drain(s); err != nil || len(ids) != 64 || slices.Equal(ids, ref) {
		t.Errorf("temperature 0, repeat_penalty 1.1: %v, ids %v are the unpenalised ones", err, ids)
	}
}

func TestRequestErrors(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	c := d.client()
	ctx := context.Background()
	neg, nan, inf := -1.0, math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		req  *ipc.Request
		code string
	}{
		{"unknown model", &ipc.Request{Model: "nope", Prompt: "x"}, ipc.CodeUnknownModel},
		{"path as model", &ipc.Request{Model: "../llama/stories260K", Prompt: "x"}, ipc.CodeBadRequest},
		{"absolute path", &ipc.Request{Model: "/etc/passwd", Prompt: "x"}, ipc.CodeBadRequest},
		{"negative temperature", &ipc.Request{Model: "stories260K", Prompt: "x", Options: &ipc.Options{Temperature: &neg}}, ipc.CodeBadRequest},
		{"NaN top_p", &ipc.Request{Model: "stories260K", Prompt: "x", Options: &ipc.Options{TopP: &nan}}, ipc.CodeBadRequest},
		{"infinite temperature", &ipc.Request{Model: "stories260K", Prompt: "x", Options: &ipc.Options{Temperature: &inf}}, ipc.CodeBadRequest},
		{"negative max_tokens", &ipc.Request{Model: "stories260K", Prompt: "x", MaxTokens: -1}, ipc.CodeBadRequest},
		{"embedding model", &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Prompt: "x"}, ipc.CodeWrongModel},
		{"prompt past the context", &ipc.Request{Model: "stories260K", Prompt: strings.Repeat("Once upon a time ", 700)}, ipc.CodeContextFull},
		{"chat without a template", &ipc.Request{Model: "stories260K", Messages: []ipc.Message{{Role: "user", Content: "hi"}}}, ipc.CodeBadRequest},
		{"model name of 255 bytes", &ipc.Request{Model: strings.Repeat("m", 255), Prompt: "x"}, ipc.CodeUnknownModel},
		{"model name of 256 bytes", &ipc.Request{Model: strings.Repeat("m", 256), Prompt: "x"}, ipc.CodeBadRequest},
	}
	for _, tc := range tests {
		s, err := c.Generate(ctx, tc.req)
		if err == nil {
			_, _, _, err = drain(s)
		}
		if ipc.CodeOf(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := c.Embed(ctx, &ipc.Request{Model: "stories260K", Input: []string{strings.Repeat("word ", 3000)}}); ipc.CodeOf(err) != ipc.CodeContextFull {
		t.Errorf("embed past a decoder's context: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("daemon unusable after errors: %v", err)
	}
}

// TestEmbed: the embedding capability end to end, against llama.cpp's
// reference vector.
// TestEmbed checks the embed op against llama.cpp's vectors on the CPU
// kernels and on the Vulkan device.
func TestEmbed(t *testing.T) {
	for _, device := range []string{"cpu", "vulkan"} {
		t.Run(device, func(t *testing.T) { testEmbed(t, device) })
	}
}

func testEmbed(t *testing.T, device string) {
	defer testDecoderEmbed(t, device)
	if device == "vulkan" {
		vktest.Device(t)
	}
	d := startDaemon(t, modelsDir(t), socketPath(t), "--device", device)
	if st, err := d.client().Status(context.Background()); err != nil || (device == "vulkan") != strings.HasPrefix(st.Backend, "vulkan") {
		t.Fatalf("status %+v, %v", st, err)
	}
	b, err := os.ReadFile(testmodels.Reference(t, "all-MiniLM-L6-v2/cpu.embedding.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	res, err := d.client().Embed(context.Background(), &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: []string{"a sentence", "Once upon a time"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.Embeddings {
		var dot, na, nb float64
		for j := range v {
			dot += float64(v[j]) * float64(ref.Data[i].Embedding[j])
			na += float64(v[j]) * float64(v[j])
			nb += float64(ref.Data[i].Embedding[j]) * float64(ref.Data[i].Embedding[j])
		}
		if cos := dot / math.Sqrt(na*nb); cos < 0.999 {
			t.Errorf("embedding %d: cosine %.5f < 0.999", i, cos)
		}
	}
	short, err := d.client().Embed(context.Background(), &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: []string{"a sentence"}, Dimensions: 64})
	if err != nil || len(short.Embeddings[0]) != 64 {
		t.Errorf("dimensions 64: %d values, %v", len(short.Embeddings), err)
	}
	long := strings.Repeat("word ", 600) // 602 tokens
	if _, err := d.client().Embed(context.Background(), &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: []string{long}}); ipc.CodeOf(err) != ipc.CodeContextFull {
		t.Errorf("input past the context: %v", err)
	}
	// prompt_tokens counts [CLS] and [SEP], and a cut input as the 512
	// tokens of the context; the uncut counts are those of llama.cpp's
	// ids (tokenize.tsv).
	for _, tc := range []struct {
		name     string
		input    []string
		truncate bool
		want     int
	}{
		{"one input", []string{"a sentence"}, false, 4},
		{"several inputs", []string{"a sentence", "Once upon a time"}, false, 4 + 6},
		{"an input cut to the context", []string{"a sentence", long}, true, 4 + 512},
	} {
		res, err := d.client().Embed(context.Background(), &ipc.Request{Model: "all-MiniLM-L6-v2-Q4_K_M", Input: tc.input, Truncate: tc.truncate})
		if err != nil || res.PromptTokens != tc.want || len(res.Embeddings) != len(tc.input) {
			t.Errorf("%s: %d vectors, %d prompt tokens, %v; want %d vectors, %d tokens", tc.name, len(res.Embeddings), res.PromptTokens, err, len(tc.input), tc.want)
		}
	}
}

// runningRequests sums the requests the daemon is serving.
func runningRequests(t *testing.T, c *ipc.Client) int {
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range st.Pools {
		for _, m := range p.Models {
			n += m.Running + m.Queued
		}
	}
	return n
}

func waitIdle(t *testing.T, c *ipc.Client, what string) {
	deadline := time.Now().Add(5 * time.Second)
	for runningRequests(t, c) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the worker was not freed", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelAndDisconnect: a cancelled request and a client that vanishes
// mid-stream both free the worker.
func TestCancelAndDisconnect(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	c := d.client()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Generate(ctx, greedy(0)) // runs until the context is full
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitIdle(t, c, "cancel")

	nc, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	write := func(v any) {
		b, _ := ipc.Marshal(v)
		if err := ipc.WriteFrame(nc, b); err != nil {
			t.Fatal(err)
		}
	}
	write(&ipc.Request{Op: ipc.OpHello, Version: ipc.Version})
	write(&ipc.Request{Op: ipc.OpGenerate, ID: 1, Model: "stories260K", Prompt: "Once"})
	for i := 0; i < 3; i++ { // hello, then chunks
		if _, err := ipc.ReadFrame(nc, ipc.DefaultMaxFrame); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	waitIdle(t, c, "disconnect")

	// The freed worker serves the next request.
	s, _ = c.Generate(context.Background(), greedy(4))
	if _, _, _, err := drain(s); err != nil {
		t.Errorf("after cancel and disconnect: %v", err)
	}
}

func TestHostileFramesAgainstDaemon(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	for _, tc := range []struct {
		name  string
		frame []byte
		code  string
	}{
		{"oversized", binary.BigEndian.AppendUint32(nil, 64<<20), ipc.CodeTooLarge},
		{"not msgpack", append(binary.BigEndian.AppendUint32(nil, 3), 0xc1, 0xc1, 0xc1), ipc.CodeMalformed},
	} {
		nc, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ipc.Marshal(&ipc.Request{Op: ipc.OpHello, Version: ipc.Version})
		ipc.WriteFrame(nc, b)
		ipc.ReadFrame(nc, ipc.DefaultMaxFrame)
		nc.Write(tc.frame)
		p, err := ipc.ReadFrame(nc, ipc.DefaultMaxFrame)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r, _ := ipc.DecodeResponse(p)
		if r.Op != ipc.OpError || r.Code != tc.code {
			t.Errorf("%s: %+v", tc.name, r)
		}
		if _, err := ipc.ReadFrame(nc, ipc.DefaultMaxFrame); !errors.Is(err, io.EOF) {
			t.Errorf("%s: connection not closed: %v", tc.name, err)
		}
		nc.Close()
	}
	// Wrong major version.
	nc, _ := net.Dial("unix", d.socket)
	b, _ := ipc.Marshal(&ipc.Request{Op: ipc.OpHello, Version: "9.0"})
	ipc.WriteFrame(nc, b)
	p, _ := ipc.ReadFrame(nc, ipc.DefaultMaxFrame)
	if r, _ := ipc.DecodeResponse(p); r == nil || r.Code != ipc.CodeVersion {
		t.Errorf("version 9.0: %+v", r)
	}
	nc.Close()
	if err := d.client().Ping(context.Background()); err != nil {
		t.Errorf("daemon stopped serving: %v", err)
	}
}

// TestSignals: SIGHUP rescans the models dir; SIGTERM during a generation
// ends it with done or error, and the daemon exits 0; a daemon killed with
// SIGKILL leaves a socket file the next one replaces.
func TestSignals(t *testing.T) {
	models, sock := modelsDir(t), socketPath(t)
	d := startDaemon(t, models, sock)
	c := d.client()
	if err := os.Symlink(filepath.Join(models, "stories260K.gguf"), filepath.Join(models, "again.gguf")); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms, err := c.Models(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(ms, func(m ipc.ModelInfo) bool { return m.Name == "again" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not rescan the models dir")
		}
		time.Sleep(20 * time.Millisecond)
	}

	s, err := c.Generate(context.Background(), greedy(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	_, _, stats, err := drain(s)
	if stats == nil && ipc.CodeOf(err) != ipc.CodeShutdown {
		t.Errorf("in-flight request ended with neither done nor a shutting_down error: %v", err)
	}
	select {
	case <-d.exited:
		if d.err != nil {
			t.Errorf("daemon exit after SIGTERM: %v", d.err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}

	d2 := startDaemon(t, models, sock)
	d2.cmd.Process.Signal(syscall.SIGKILL)
	<-d2.exited
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("SIGKILL left no socket file to test with: %v", err)
	}
	d3 := startDaemon(t, models, sock)
	if err := d3.client().Ping(context.Background()); err != nil {
		t.Errorf("restart over a stale socket: %v", err)
	}
	// A second daemon on a live socket refuses to start.
	out, err := exec.Command(daemonBin, "--socket", sock, "--models-dir", models).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already listening") {
		t.Errorf("second daemon on a live socket: %v %s", err, out)
	}
}

// TestPythonExample runs examples/client.py against the daemon.
func TestPythonExample(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import msgpack").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-msgpack missing in CI: %v", err)
		}
		t.Skipf("python3-msgpack not installed: %v", err)
	}
	d := startDaemon(t, modelsDir(t), socketPath(t))
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "client.py")
	out, err := exec.Command(py, script, "--socket", d.socket, "-m", "stories260K", "-n", "16", "--temperature", "0", "Once upon a time").Output()
	if err != nil {
		t.Fatalf("client.py: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), ", there was a little girl named Lily.") {
		t.Errorf("client.py printed %q", out)
	}
}

// TestSystemdUnits checks the shipped units with systemd-analyze.
func TestSystemdUnits(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze missing in CI")
		}
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "contrib", "systemd")
	unit, err := os.ReadFile(filepath.Join(src, "vkinferd.service"))
	if err != nil {
		t.Fatal(err)
	}
	service := strings.ReplaceAll(string(unit), "@BINDIR@/vkinferd", daemonBin)
	if err := os.WriteFile(filepath.Join(dir, "vkinferd.service"), []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	sock, err := os.ReadFile(filepath.Join(src, "vkinferd.socket"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vkinferd.socket"), sock, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "vkinferd.socket"), filepath.Join(dir, "vkinferd.service"))
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSocketActivation hands the daemon a listening socket the way systemd
// does (fd 3, LISTEN_FDS=1, LISTEN_PID of the daemon itself) and serves a
// request through it.
func TestSocketActivation(t *testing.T) {
	sock := socketPath(t)
	os.MkdirAll(filepath.Dir(sock), 0o700)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the daemon's copy of the fd keeps listening
	// sh's pid becomes the daemon's through exec, so LISTEN_PID matches.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --models-dir "$1" --socket /nonexistent/unused.sock`, daemonBin, modelsDir(t))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var c *ipc.Client
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err = ipc.Dial(context.Background(), sock); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("activated daemon does not answer: %v\n%s", err, log.String())
		}
	}
	defer c.Close()
	s, err := c.Generate(context.Background(), greedy(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, ids, _, err := drain(s); err != nil || len(ids) != 4 {
		t.Errorf("generate over the activated socket: %v %v", ids, err)
	}
	if !strings.Contains(log.String(), "socket=\"systemd socket\"") {
		t.Errorf("daemon did not report socket activation:\n%s", log.String())
	}
}

// TestModelsDirUnreadable: a models dir that cannot be read stops the
// daemon at start with a message naming it; on SIGHUP it is logged, the
// previous list is kept and loaded models go on serving. Root reads any
// mode, so the unreadable dir is also made by putting a file in its place.
func TestModelsDirUnreadable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "models")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(daemonBin, "--socket", socketPath(t), "--models-dir", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), file) || !strings.Contains(string(out), "not a directory") {
		t.Errorf("start with a file as models dir: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		spoil  func(dir string) error
		asRoot bool
	}{
		{"not a directory", func(dir string) error {
			if err := os.Rename(dir, dir+".away"); err != nil {
				return err
			}
			return os.WriteFile(dir, []byte("x"), 0o644)
		}, true},
		{"permission denied", func(dir string) error { return os.Chmod(dir, 0) }, false},
	} {
		if !tc.asRoot && os.Getuid() == 0 {
			continue // root reads a mode-0 directory
		}
		dir := modelsDir(t)
		d := startDaemon(t, dir, socketPath(t))
		c := d.client()
		s, err := c.Generate(context.Background(), greedy(4))
		if err == nil {
			_, _, _, err = drain(s)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.spoil(dir); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		d.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(d.log.String(), "rescan of the models dirs failed") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: SIGHUP did not log the failed rescan", tc.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ms, err := c.Models(context.Background())
		if err != nil || !slices.ContainsFunc(ms, func(m ipc.ModelInfo) bool { return m.Name == "stories260K" }) {
			t.Errorf("%s: models after the failed rescan: %v, %v", tc.name, ms, err)
		}
		s, err = c.Generate(context.Background(), greedy(4))
		if err == nil {
			_, _, _, err = drain(s)
		}
		if err != nil {
			t.Errorf("%s: the loaded model stopped serving: %v", tc.name, err)
		}
	}
}

// TestModelFileChanged: a model file changed on disk while loaded is
// never read through its stale mapping. Truncated, its requests fail with
// the reload's error; overwritten in place or replaced by another file,
// the next request reloads it and serves the new model. The daemon keeps
// serving throughout.
func TestModelFileChanged(t *testing.T) {
	stories, err := os.ReadFile(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := os.ReadFile(testmodels.Model(t, "llama/llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "stories260K.gguf")
	if err := os.WriteFile(path, stories, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, socketPath(t))
	c := d.client()
	generate := func() (string, error) {
		s, err := c.Generate(context.Background(), greedy(8))
		if err != nil {
			return "", err
		}
		text, _, _, err := drain(s)
		return text, err
	}
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	other := func() string {
		// What llama-2-tiny-random says under the same name.
		if err := os.WriteFile(path, tiny, 0o644); err != nil {
			t.Fatal(err)
		}
		text, err := generate()
		if err != nil {
			t.Fatalf("after overwriting with another model: %v\n%s", err, d.log.String())
		}
		if err := os.WriteFile(path, stories, 0o644); err != nil {
			t.Fatal(err)
		}
		return text
	}()
	if other == want {
		t.Fatalf("overwritten with llama-2-tiny-random, the model still says %q", want)
	}
	for _, tc := range []struct {
		name    string
		change  func() error
		wantErr string // "" when the request serves stories260K again
	}{
		{"truncated", func() error { return os.Truncate(path, 4096) }, "malformed file"},
		{"rewritten in place", func() error { return os.WriteFile(path, stories, 0o644) }, ""},
		{"replaced by rename", func() error {
			if err := os.WriteFile(path+".new", stories, 0o644); err != nil {
				return err
			}
			return os.Rename(path+".new", path)
		}, ""},
	} {
		if err := tc.change(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			text, err := generate()
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%s, request %d: %q, %v; want an error with %q", tc.name, i, text, err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || text != want):
				t.Errorf("%s, request %d: %q, %v; want %q", tc.name, i, text, err, want)
			}
		}
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("daemon died: %v\n%s", err, d.log.String())
	}
	if !strings.Contains(d.log.String(), "was modified in place") || !strings.Contains(d.log.String(), "was replaced by another file") {
		t.Errorf("the reloads were not logged with their cause:\n%s", d.log.String())
	}
}

// TestOddInputs: invalid UTF-8 and NUL bytes in a prompt, and a huge
// max_tokens, are served; output is always valid UTF-8 and a full context
// is reported as the stop reason.
func TestOddInputs(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t), "--context-size", "64")
	c := d.client()
	for _, tc := range []struct {
		name   string
		prompt string
		max    int
		stop   string
	}{
		{"invalid UTF-8 and NUL", "\xff\xfe\x00Once\x00 upon \xc3", 8, "max_tokens"},
		{"huge max_tokens", "Once upon a time", 1 << 30, "context_full"},
	} {
		req := greedy(tc.max)
		req.Prompt = tc.prompt
		s, err := c.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		text, _, stats, err := drain(s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !utf8.ValidString(text) || stats.StopReason != tc.stop {
			t.Errorf("%s: valid UTF-8 %v, stop reason %q (want %q)", tc.name, utf8.ValidString(text), stats.StopReason, tc.stop)
		}
	}
}

// TestOtherUserRefused connects as a real second user (nobody), with the
// socket's directory and file opened up so that only the daemon's uid
// check stands in the way: the connection is closed without a reply.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import msgpack").Run(); err != nil {
		t.Skip("python3-msgpack not installed")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("vkinfer-otheruser-%d", os.Getpid()))
	os.RemoveAll(dir)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	d := startDaemon(t, modelsDir(t), sock)
	for _, p := range []string{dir, sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "client.py")
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py, script, "--socket", sock, "-m", "stories260K", "x")
	out, err := cmd.CombinedOutput()
	// The daemon closes the connection before any reply: the client sees
	// a broken pipe, a reset or an end of stream, depending on timing.
	closed := strings.Contains(string(out), "closed the connection") || strings.Contains(string(out), "Broken pipe") || strings.Contains(string(out), "Connection reset")
	if err == nil || !closed {
		t.Errorf("client as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(d.log.String(), "refused connection") || !strings.Contains(d.log.String(), "uid 65534") {
		t.Errorf("daemon did not log the refusal:\n%s", d.log.String())
	}
	if err := d.client().Ping(context.Background()); err != nil {
		t.Errorf("own user refused after a foreign one: %v", err)
	}
}

// testDecoderEmbed embeds with a llama-family model through the daemon:
// mean-pooled, unit-length vectors of its width, and the texts' tokens
// with their BOS counted (5 and 9); related texts closer than unrelated
// ones is not asked of a 260K-parameter model.
func testDecoderEmbed(t *testing.T, device string) {
	if t.Failed() {
		return
	}
	d := startDaemon(t, modelsDir(t), socketPath(t), "--device", device)
	res, err := d.client().Embed(context.Background(), &ipc.Request{Model: "stories260K", Input: []string{"Once upon a time", "Lily went to the park"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.PromptTokens != 5+9 {
		t.Errorf("decoder embedding: %d prompt tokens, want 14", res.PromptTokens)
	}
	vecs := res.Embeddings
	for i, v := range vecs {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if len(v) != 64 || math.Abs(n-1) > 1e-4 {
			t.Errorf("decoder embedding %d: %d values, norm² %.6f", i, len(v), n)
		}
	}
	if slices.Equal(vecs[0], vecs[1]) {
		t.Error("two texts, one vector")
	}
	cut, err := d.client().Embed(context.Background(), &ipc.Request{Model: "stories260K", Input: []string{"Once upon a time"}, Dimensions: 16})
	if err != nil || len(cut.Embeddings[0]) != 16 {
		t.Errorf("dimensions 16: %v %v", cut, err)
	}
}

// rawConn is a connection driven frame by frame with generic msgpack maps,
// to send what the Go client cannot (seed -1, wrong types) and see exactly
// what the daemon sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, socket string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t, nc}
	r.send(map[string]any{"op": "hello", "id": 0, "version": ipc.Version})
	if hello := r.recv(); hello["op"] != "hello" {
		t.Fatalf("hello answered with %v", hello)
	}
	return r
}

func (r *rawConn) send(m map[string]any) {
	b, err := msgpack.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := ipc.WriteFrame(r.nc, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) recv() map[string]any {
	p, err := ipc.ReadFrame(r.nc, ipc.DefaultMaxFrame)
	if err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(p, &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// generate runs a streamed generation with options and returns its ids,
// or the error frame's code.
func (r *rawConn) generate(id uint64, options map[string]any) (ids []int64, code any) {
	r.send(map[string]any{"op": "generate", "id": id, "model": "stories260K", "prompt": "Once upon a time", "max_tokens": 32, "options": options})
	for {
		f := r.recv()
		if f["id"] != id {
			r.t.Fatalf("frame of another request: %v", f)
		}
		switch f["op"] {
		case "chunk":
			for _, t := range f["tokens"].([]any) {
				ids = append(ids, reflect.ValueOf(t).Convert(reflect.TypeFor[int64]()).Int())
			}
		case "done":
			return ids, nil
		default:
			return ids, f["code"]
		}
	}
}

// TestSeed: seed -1 means a new random seed each time, as in llama.cpp
// and Ollama; the same seed gives the same tokens; a seed below -1 is
// refused.
func TestSeed(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	r := dialRaw(t, d.socket)
	sampled := func(seed any) map[string]any {
		return map[string]any{"temperature": 1.5, "top_k": 0, "top_p": 1, "min_p": 0, "seed": seed}
	}
	random1, code1 := r.generate(1, sampled(-1))
	random2, code2 := r.generate(2, sampled(-1))
	if code1 != nil || code2 != nil || len(random1) != 32 || slices.Equal(random1, random2) {
		t.Errorf("seed -1 twice: %v %v, %v and %v", code1, code2, random1, random2)
	}
	fixed1, code1 := r.generate(3, sampled(42))
	fixed2, code2 := r.generate(4, sampled(42))
	if code1 != nil || code2 != nil || len(fixed1) != 32 || !slices.Equal(fixed1, fixed2) {
		t.Errorf("seed 42 twice: %v %v, %v and %v", code1, code2, fixed1, fixed2)
	}
	if _, code := r.generate(5, sampled(-2)); code != ipc.CodeBadRequest {
		t.Errorf("seed -2: %v, want %s", code, ipc.CodeBadRequest)
	}
}

// TestBadFieldAgainstDaemon: a field of the wrong type fails only its
// request, with bad_request and its id; a generation in flight on the same
// connection completes.
func TestBadFieldAgainstDaemon(t *testing.T) {
	d := startDaemon(t, modelsDir(t), socketPath(t))
	r := dialRaw(t, d.socket)
	r.send(map[string]any{"op": "generate", "id": 1, "model": "stories260K", "prompt": "Once upon a time", "max_tokens": 64})
	if f := r.recv(); f["op"] != "chunk" {
		t.Fatalf("first frame of the generation: %v", f)
	}
	r.send(map[string]any{"op": "generate", "id": 2, "model": 5, "prompt": "x"})
	r.send(map[string]any{"op": "generate", "id": 3, "model": "stories260K", "prompt": []byte("x")})
	r.send(map[string]any{"op": "ping", "id": -1})
	errs := map[uint64]any{}
	for done := false; !done; {
		f := r.recv()
		id := reflect.ValueOf(f["id"]).Convert(reflect.TypeFor[uint64]()).Uint()
		switch {
		case f["op"] == "error":
			errs[id] = f["code"]
		case id != 1:
			t.Fatalf("unexpected frame %v", f)
		case f["op"] == "done":
			done = true
		case f["op"] != "chunk":
			t.Fatalf("generation ended with %v", f)
		}
	}
	for len(errs) < 3 {
		f := r.recv()
		errs[reflect.ValueOf(f["id"]).Convert(reflect.TypeFor[uint64]()).Uint()] = f["code"]
	}
	if want := map[uint64]any{0: ipc.CodeBadRequest, 2: ipc.CodeBadRequest, 3: ipc.CodeBadRequest}; !reflect.DeepEqual(errs, want) {
		t.Errorf("errors by id %v, want %v", errs, want)
	}
}

// TestEmptyLists: with no models, the models reply and the status's pools
// hold empty arrays, not nil.
func TestEmptyLists(t *testing.T) {
	d := startDaemon(t, t.TempDir(), socketPath(t))
	r := dialRaw(t, d.socket)
	r.send(map[string]any{"op": "models", "id": 1})
	if f := r.recv(); !reflect.DeepEqual(f["models"], []any{}) {
		t.Errorf("models reply: %#v", f)
	}
	r.send(map[string]any{"op": "status", "id": 2})
	st, _ := r.recv()["status"].(map[string]any)
	pools, _ := st["pools"].([]any)
	if len(pools) != 2 {
		t.Fatalf("status: %#v", st)
	}
	for _, p := range pools {
		if m := p.(map[string]any); !reflect.DeepEqual(m["models"], []any{}) {
			t.Errorf("pool %v: models %#v", m["capability"], m["models"])
		}
	}
}
