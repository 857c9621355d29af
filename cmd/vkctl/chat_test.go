package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/ipc"
)

// chatModel writes llama-2-tiny-random with Llama 2's chat template (the
// parity test's copy) into models as tiny-chat.gguf. Its random weights
// rarely end a reply, so a reply runs long enough to interrupt.
func chatModel(t *testing.T) func(models string) {
	return func(models string) {
		src, err := os.ReadFile("../../engine/chat/testdata/templates/llama2.jinja")
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(testmodels.Model(t, "llama/llama-2-tiny-random.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := gguf.FromFile(f)
		b.SetString(chat.MetadataKey, string(src))
		if err := b.WriteFile(filepath.Join(models, "tiny-chat.gguf")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChatPiped drives `vkctl chat` through a pipe against a real daemon:
// commands, a multi-line message, save, clear and load, and replies equal
// to the daemon's own for the same conversation.
func TestChatPiped(t *testing.T) {
	sock := startDaemon(t, chatModel(t))
	dir := t.TempDir()
	saved := filepath.Join(dir, "s.json")
	script := strings.Join([]string{
		"/set temperature 0",
		"/set max_tokens 6",
		"/set top_k many",
		"/system Be terse.",
		"Hello there",
		`"""`, "line one", "line two", `"""`,
		"/save " + saved,
		"/clear",
		"/load " + saved,
		"third \\", "continued",
		"/bogus",
		"/bye",
		"never read",
	}, "\n") + "\n"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--socket", sock, "chat", "-m", "tiny-chat", "--history", ""}, strings.NewReader(script), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"Set temperature to 0.", "Set max_tokens to 6.", "Set the system message.", "Saved 4 messages to", "Cleared the conversation.", "Loaded 4 messages from"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{`/set top_k "many"`, "unknown command /bogus"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "tokens/s") {
		t.Errorf("tokens/s shown without a terminal:\n%s", errb.String())
	}
	s, err := loadSession(saved)
	if err != nil {
		t.Fatal(err)
	}
	if s.System != "Be terse." || len(s.Messages) != 4 || s.Messages[2].Content != "line one\nline two" || s.Settings["temperature"] != 0.0 || s.Settings["max_tokens"] != 6 {
		t.Fatalf("saved session %+v", s)
	}
	// Each reply is the daemon's greedy answer to the conversation so far.
	c, err := ipc.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var replies []string
	for i := 0; i < len(s.Messages); i += 2 {
		req := (&chatSession{Model: "tiny-chat", System: s.System, Settings: s.Settings, Messages: s.Messages[:i]}).request(s.Messages[i].Content)
		st, err := c.Generate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for {
			ch, err := st.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(ch.Text)
		}
		if text.String() != s.Messages[i+1].Content || text.Len() == 0 {
			t.Errorf("reply %d: session kept %q, the daemon answers %q", i/2, s.Messages[i+1].Content, text.String())
		}
		replies = append(replies, text.String())
	}
	// The third message continued over two lines, after /load.
	if !strings.Contains(out.String(), replies[1]) {
		t.Errorf("stdout lacks the streamed reply %q", replies[1])
	}
}

// TestChatNeedsTemplate: a model without a chat template, or an unknown
// one, is refused before the first message.
func TestChatNeedsTemplate(t *testing.T) {
	sock := startDaemon(t)
	for model, want := range map[string]string{
		"stories260K": "has no chat template (bad_request)",
		"nope":        "(unknown_model)",
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"--socket", sock, "chat", "-m", model}, strings.NewReader("hi\n"), &out, &errb)
		if code != exitFailed || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", model, code, errb.String(), exitFailed, want)
		}
	}
}

func TestReadMessage(t *testing.T) {
	in := &plainReader{}
	for _, tc := range []struct {
		input string
		want  []string
	}{
		{"a\nb\n", []string{"a", "b"}},
		{"\"\"\"x\ny\n\"\"\"\nz\n", []string{"x\ny", "z"}},
		{"\"\"\"\nx\ny\"\"\"\n", []string{"x\ny"}},
		{"\"\"\"one line\"\"\"\n", []string{"one line"}},
		{"a \\\nb\\\nc\n", []string{"a \nb\nc"}},
	} {
		in.sc = bufioScanner(tc.input)
		var got []string
		for {
			m, err := readMessage(in)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: %q, want %q", tc.input, got, tc.want)
		}
	}
}

func TestLoadSessionErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage":        "not json",
		"unknown option": `{"model": "m", "settings": {"warmth": 1}}`,
		"bad seed":       `{"model": "m", "settings": {"seed": -3}}`,
	} {
		p := filepath.Join(dir, "f.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := loadSession(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// ptyOutput collects what the program writes to its terminal.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *ptyOutput) String() string { o.mu.Lock(); defer o.mu.Unlock(); return o.buf.String() }

// waitFor waits until the output after offset from holds want, and
// returns the offset past it.
func (o *ptyOutput) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s := o.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the terminal output after byte %d:\n%s", want, from, o.String()[from:])
	return 0
}

// TestChatTerminal runs the vkctl binary on a pseudo-terminal: replies
// stream with tokens/s after them, Ctrl-C stops a reply and the session
// goes on, typed lines land in the history file, Ctrl-D leaves.
func TestChatTerminal(t *testing.T) {
	sock := startDaemon(t, chatModel(t))
	dir := t.TempDir()
	bin := filepath.Join(dir, "vkctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building vkctl: %v\n%s", err, out)
	}
	history := filepath.Join(dir, "state", "history")
	cmd := exec.Command(bin, "--socket", sock, "chat", "-m", "tiny-chat", "--history", history)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	out := &ptyOutput{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	at := out.waitFor(t, 0, "Chatting with tiny-chat")
	at = out.waitFor(t, at, ">>> ")
	tty.WriteString("/set max_tokens 5\r")
	at = out.waitFor(t, at, "Set max_tokens to 5.")
	tty.WriteString("Hi\r")
	at = out.waitFor(t, at, " tokens/s, ")
	if !strings.Contains(out.String()[at-40:], "[5 tokens") {
		t.Errorf("no token count before tokens/s:\n%s", out.String()[at-40:])
	}

	// A reply that runs until the context is full (the seed makes it the
	// same every time), stopped by Ctrl-C once it streams.
	at = out.waitFor(t, at, ">>> ")
	tty.WriteString("/set seed 1\r")
	at = out.waitFor(t, at, "Set seed to 1.")
	at = out.waitFor(t, at, ">>> ")
	tty.WriteString("/set max_tokens 0\r")
	at = out.waitFor(t, at, "Set max_tokens to 0.")
	at = out.waitFor(t, at, ">>> ")
	tty.WriteString("Tell me everything\r")
	at = out.waitFor(t, at, "Tell me everything")
	for start, deadline := len(out.String()), time.Now().Add(60*time.Second); len(out.String()) < start+20; {
		if time.Now().After(deadline) {
			t.Fatalf("the reply did not start:\n%s", out.String()[at:])
		}
		time.Sleep(10 * time.Millisecond)
	}
	tty.Write([]byte{3})
	at = out.waitFor(t, at, "[stopped]")
	at = out.waitFor(t, at, ">>> ")
	tty.WriteString("/set max_tokens 2\r")
	at = out.waitFor(t, at, "Set max_tokens to 2.")
	tty.WriteString("Still there?\r")
	at = out.waitFor(t, at, "[2 tokens")

	tty.Write([]byte{4}) // Ctrl-D at an empty prompt
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Ctrl-D did not end the session:\n%s", out.String())
	}
	h, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"/set max_tokens 5", "Hi", "Tell me everything", "Still there?"} {
		if !strings.Contains(string(h), line+"\n") {
			t.Errorf("history lacks %q:\n%s", line, h)
		}
	}
}

func bufioScanner(s string) *bufio.Scanner { return bufio.NewScanner(strings.NewReader(s)) }
