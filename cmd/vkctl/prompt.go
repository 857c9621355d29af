package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/ipc"
)

// flagSet returns a command's flags, writing help to the command's stderr.
func flagSet(e *env, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: vkctl %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// textArg joins the arguments, or reads stdin when there are none or "-".
func textArg(e *env, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), nil
	}
	b, err := io.ReadAll(e.stdin)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

func runPrompt(e *env, args []string) error {
	fs := flagSet(e, "prompt", "[-m MODEL] [flags] [TEXT]")
	model := fs.StringP("model", "m", os.Getenv("VKINFER_MODEL"), "model name (default $VKINFER_MODEL)")
	maxTokens := fs.IntP("max-tokens", "n", 0, "stop after this many tokens (0: until the model stops or the context is full)")
	stops := fs.StringArray("stop", nil, "stop at this text (repeatable)")
	chat := fs.Bool("chat", false, "send TEXT as a user message through the model's chat template")
	system := fs.String("system", "", "system message (with --chat)")
	verbose := fs.BoolP("verbose", "v", false, "print timings and token counts to stderr")
	noStream := fs.Bool("no-stream", false, "print the whole text at the end instead of as it is generated")
	fs.Float64("temperature", 0, "sampling temperature (0 = greedy)")
	fs.Int("top-k", 0, "keep the k most likely tokens (0 = all)")
	fs.Float64("top-p", 0, "keep the most likely tokens up to this probability mass")
	fs.Float64("min-p", 0, "drop tokens less likely than this fraction of the most likely")
	fs.Float64("repeat-penalty", 0, "penalty for repeating recent tokens (1 = off)")
	fs.Int("repeat-last-n", 0, "how many recent tokens the penalties look at")
	fs.Float64("presence-penalty", 0, "presence penalty")
	fs.Float64("frequency-penalty", 0, "frequency penalty")
	seed := fs.String("seed", "", "random seed, 0 to 2^64-1 (default, or -1: a new one each time)")
	format := fs.String("format", "", `constrain the output: "json", or a JSON schema (a file, or inline JSON)`)
	grammarFile := fs.String("grammar", "", "constrain the output to the GBNF grammar in FILE")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("no model: pass -m MODEL (see `vkctl models`) or set VKINFER_MODEL")
	}
	text, err := textArg(e, fs.Args())
	if err != nil {
		return err
	}
	if text == "" {
		return usagef("empty prompt")
	}
	req := &ipc.Request{Model: *model, MaxTokens: *maxTokens, Stop: *stops}
	if err := setConstraint(req, *format, *grammarFile); err != nil {
		return err
	}
	if *chat {
		if *system != "" {
			req.Messages = append(req.Messages, ipc.Message{Role: "system", Content: *system})
		}
		req.Messages = append(req.Messages, ipc.Message{Role: "user", Content: text})
	} else {
		req.Prompt = text
	}
	// Only the sampling flags given are sent; the daemon fills in the rest.
	opts := &ipc.Options{}
	changed := false
	for name, dst := range map[string]any{
		"temperature": &opts.Temperature, "top-k": &opts.TopK, "top-p": &opts.TopP, "min-p": &opts.MinP,
		"repeat-penalty": &opts.RepeatPenalty, "repeat-last-n": &opts.RepeatLastN,
		"presence-penalty": &opts.PresencePenalty, "frequency-penalty": &opts.FrequencyPenalty,
	} {
		if !fs.Changed(name) {
			continue
		}
		changed = true
		switch d := dst.(type) {
		case **float64:
			v, _ := fs.GetFloat64(name)
			*d = &v
		case **int:
			v, _ := fs.GetInt(name)
			*d = &v
		}
	}
	// -1 is "random", as in llama.cpp: the same as sending no seed.
	if fs.Changed("seed") && *seed != "-1" {
		v, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			return usagef("--seed %q: want -1 or a whole number from 0 to 2^64-1", *seed)
		}
		opts.Seed = &v
		changed = true
	}
	if changed {
		req.Options = opts
	}
	if *noStream {
		f := false
		req.Stream = &f
	}

	c, err := e.connect()
	if err != nil {
		return err
	}
	start := time.Now()
	stopSpinner := spinner(e, "loading "+*model)
	s, err := c.Generate(e.ctx, req)
	if err != nil {
		stopSpinner()
		return err
	}
	out := bufio.NewWriter(e.stdout)
	first := true
	for {
		ch, err := s.Next()
		if first {
			stopSpinner()
			first = false
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Flush()
			return err
		}
		out.WriteString(ch.Text)
		out.Flush() // tokens appear as they are generated
	}
	fmt.Fprintln(out)
	out.Flush()
	if *verbose {
		printStats(e.stderr, s.Stats(), time.Since(start))
	}
	return nil
}

func printStats(w io.Writer, st *ipc.Stats, total time.Duration) {
	if st == nil {
		return
	}
	ms := func(ns int64) string { return fmt.Sprintf("%.1f ms", float64(ns)/1e6) }
	fmt.Fprintf(w, "stop reason:       %s\n", st.StopReason)
	fmt.Fprintf(w, "load:              %s\n", ms(st.LoadNs))
	fmt.Fprintf(w, "prompt eval:       %d tokens (%d cached) in %s, %.1f tokens/s\n", st.PromptTokens, st.CachedTokens, ms(st.PromptNs), st.PromptTPS)
	fmt.Fprintf(w, "generation:        %d tokens in %s, %.1f tokens/s\n", st.GeneratedTokens, ms(st.GenerationNs), st.GenerationTPS)
	fmt.Fprintf(w, "time to 1st token: %s\n", ms(st.FirstTokenNs))
	fmt.Fprintf(w, "total:             %s\n", total.Round(time.Millisecond))
}

// spinner shows a progress indicator on stderr while a request waits for
// its first output, when stderr is a terminal. It returns its stop func.
func spinner(e *env, label string) func() {
	f, ok := e.stderr.(*os.File)
	if !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		frames := `|/-\`
		t := time.NewTicker(120 * time.Millisecond)
		defer t.Stop()
		shown := false
		for i := 0; ; i++ {
			select {
			case <-done:
				if shown {
					fmt.Fprint(f, "\r\033[K")
				}
				return
			case <-t.C:
				if i >= 3 { // only for waits a person notices
					fmt.Fprintf(f, "\r%c %s", frames[i%4], label)
					shown = true
				}
			}
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(done)
			<-finished
		}
	}
}
