package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/chzyer/readline"
	"github.com/vkinfer/vkinfer/ipc"
)

func runChat(e *env, args []string) error {
	fs := flagSet(e, "chat", "[-m MODEL] [flags]")
	model := fs.StringP("model", "m", os.Getenv("VKINFER_MODEL"), "model name (default $VKINFER_MODEL)")
	system := fs.String("system", "", "system message")
	load := fs.String("load", "", "continue the session saved in this file (see /save)")
	history := fs.String("history", defaultHistory(), "file keeping the lines typed, across sessions (\"\": none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("no model: pass -m MODEL (see `vkctl models`) or set VKINFER_MODEL")
	}
	if fs.NArg() > 0 {
		return usagef("chat takes no arguments; type messages at the prompt")
	}
	s := &chatSession{Model: *model, System: *system}
	if *load != "" {
		loaded, err := loadSession(*load)
		if err != nil {
			return err
		}
		*s = *loaded
		s.Model = *model
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	// A model without a chat template (or an unknown one) fails here, not
	// at the first message: tokenize reads the template without loading
	// the weights.
	if _, err := c.Tokenize(e.ctx, &ipc.Request{Model: s.Model, Messages: []ipc.Message{{Role: "user", Content: "hi"}}}); err != nil {
		return err
	}
	tty := isTerminal(e.stdin) && isTerminal(e.stdout)
	in, err := newLineReader(e, tty, *history)
	if err != nil {
		return err
	}
	defer in.Close()

	// Ctrl-C stops a reply, not the session: the interrupt no longer
	// cancels the command's context, and is read by the reply instead.
	signal.Reset(os.Interrupt)
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)

	if tty {
		fmt.Fprintf(e.stdout, "Chatting with %s. /help lists the commands; Ctrl-D leaves.\n", s.Model)
	}
	for {
		text, err := readMessage(in)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, readline.ErrInterrupt):
			fmt.Fprintln(e.stdout, "(Ctrl-D or /bye leaves)")
			continue
		case err != nil:
			return err
		case e.ctx.Err() != nil:
			return e.ctx.Err()
		}
		if strings.HasPrefix(text, "/") {
			if err := s.command(e.stdout, text); errors.Is(err, errBye) {
				return nil
			} else if err != nil {
				fmt.Fprintf(e.stderr, "%v\n", err)
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if err := s.reply(e, c, text, interrupts, tty); err != nil {
			return err
		}
	}
}

// reply sends the conversation with text, streams the answer and keeps
// both in the session. An interrupt stops the answer and keeps what came;
// a request the daemon refuses is reported and forgotten. Only a lost
// daemon or the command's context ends the session.
func (s *chatSession) reply(e *env, c *ipc.Client, text string, interrupts <-chan os.Signal, tty bool) error {
	for len(interrupts) > 0 { // one pressed while typing is not for this reply
		<-interrupts
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-interrupts:
			cancel()
		case <-done:
		}
	}()
	start := time.Now()
	stream, err := c.Generate(ctx, s.request(text))
	var answer strings.Builder
	for err == nil {
		var ch ipc.Chunk
		if ch, err = stream.Next(); err == nil {
			answer.WriteString(ch.Text)
			fmt.Fprint(e.stdout, ch.Text)
		}
	}
	interrupted := ctx.Err() != nil && e.ctx.Err() == nil
	switch {
	case errors.Is(err, io.EOF) || interrupted:
	case e.ctx.Err() != nil:
		return e.ctx.Err()
	default:
		if answer.Len() > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stderr, "vkctl: %v\n", err)
		return c.Ping(e.ctx) // a daemon gone ends the session
	}
	s.Messages = append(s.Messages, ipc.Message{Role: "user", Content: text}, ipc.Message{Role: "assistant", Content: answer.String()})
	fmt.Fprintln(e.stdout)
	if interrupted {
		fmt.Fprintln(e.stderr, "[stopped]")
		return nil
	}
	if st := stream.Stats(); tty && st != nil {
		fmt.Fprintf(e.stderr, "[%d tokens, %.1f tokens/s, %s]\n", st.GeneratedTokens, st.GenerationTPS, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// lineReader reads the user's lines: readline on a terminal, plain lines
// from a pipe.
type lineReader interface {
	Readline() (string, error)
	SetPrompt(string)
	Close() error
}

func newLineReader(e *env, tty bool, history string) (lineReader, error) {
	if !tty {
		return &plainReader{sc: bufio.NewScanner(e.stdin)}, nil
	}
	if history != "" {
		if err := os.MkdirAll(filepath.Dir(history), 0o700); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	return readline.NewEx(&readline.Config{
		Prompt:          ">>> ",
		HistoryFile:     history,
		InterruptPrompt: "^C",
		EOFPrompt:       "\n",
		Stdout:          e.stdout,
		Stderr:          e.stderr,
	})
}

type plainReader struct{ sc *bufio.Scanner }

func (p *plainReader) Readline() (string, error) {
	if p.sc.Scan() {
		return p.sc.Text(), nil
	}
	if err := p.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}
func (p *plainReader) SetPrompt(string) {}
func (p *plainReader) Close() error     { return nil }

// readMessage reads one message: a line; lines up to a closing """ after
// an opening one; or lines joined while they end in a backslash.
func readMessage(in lineReader) (string, error) {
	defer in.SetPrompt(">>> ")
	line, err := in.Readline()
	if err != nil {
		return "", err
	}
	var lines []string
	switch {
	case strings.HasPrefix(line, `"""`):
		rest := strings.TrimPrefix(line, `"""`)
		if strings.HasSuffix(rest, `"""`) && len(rest) >= 3 {
			return strings.TrimSuffix(rest, `"""`), nil
		}
		if rest != "" {
			lines = append(lines, rest)
		}
		for {
			in.SetPrompt("... ")
			l, err := in.Readline()
			if err != nil {
				return "", err
			}
			if end, ok := strings.CutSuffix(l, `"""`); ok {
				if end != "" {
					lines = append(lines, end)
				}
				return strings.Join(lines, "\n"), nil
			}
			lines = append(lines, l)
		}
	case strings.HasSuffix(line, `\`):
		for strings.HasSuffix(line, `\`) {
			lines = append(lines, strings.TrimSuffix(line, `\`))
			in.SetPrompt("... ")
			if line, err = in.Readline(); err != nil {
				return "", err
			}
		}
		return strings.Join(append(lines, line), "\n"), nil
	}
	return line, nil
}

// defaultHistory is $XDG_STATE_HOME/vkinfer/chat_history, or under
// ~/.local/state.
func defaultHistory() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "vkinfer", "chat_history")
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && readline.IsTerminal(int(file.Fd()))
}
