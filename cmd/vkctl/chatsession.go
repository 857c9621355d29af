package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/vkinfer/vkinfer/ipc"
)

// chatSession is the state of `vkctl chat`: the conversation so far and
// what each request is sent with. It is what /save writes and /load
// reads.
type chatSession struct {
	Model    string         `json:"model"`
	System   string         `json:"system,omitempty"`
	Settings map[string]any `json:"settings,omitempty"` // /set values: float64, int or uint64 (seed)
	Messages []ipc.Message  `json:"messages"`
}

// setting is one /set key: its wire option and how its value parses.
type setting struct {
	help  string
	apply func(req *ipc.Request, v any)
	parse func(s string) (any, error)
}

func floatSetting(help string, dst func(o *ipc.Options) **float64) setting {
	return setting{help: help,
		parse: func(s string) (any, error) { return strconv.ParseFloat(s, 64) },
		apply: func(r *ipc.Request, v any) { f := v.(float64); *dst(options(r)) = &f }}
}

func intSetting(help string, dst func(o *ipc.Options) **int) setting {
	return setting{help: help,
		parse: func(s string) (any, error) { return strconv.Atoi(s) },
		apply: func(r *ipc.Request, v any) { n := v.(int); *dst(options(r)) = &n }}
}

func options(r *ipc.Request) *ipc.Options {
	if r.Options == nil {
		r.Options = &ipc.Options{}
	}
	return r.Options
}

var settings = map[string]setting{
	"temperature":       floatSetting("sampling temperature (0 = greedy)", func(o *ipc.Options) **float64 { return &o.Temperature }),
	"top_k":             intSetting("keep the k most likely tokens (0 = all)", func(o *ipc.Options) **int { return &o.TopK }),
	"top_p":             floatSetting("keep the most likely tokens up to this probability mass", func(o *ipc.Options) **float64 { return &o.TopP }),
	"min_p":             floatSetting("drop tokens less likely than this fraction of the most likely", func(o *ipc.Options) **float64 { return &o.MinP }),
	"repeat_penalty":    floatSetting("penalty for repeating recent tokens (1 = off)", func(o *ipc.Options) **float64 { return &o.RepeatPenalty }),
	"repeat_last_n":     intSetting("how many recent tokens the penalties look at", func(o *ipc.Options) **int { return &o.RepeatLastN }),
	"presence_penalty":  floatSetting("presence penalty", func(o *ipc.Options) **float64 { return &o.PresencePenalty }),
	"frequency_penalty": floatSetting("frequency penalty", func(o *ipc.Options) **float64 { return &o.FrequencyPenalty }),
	"seed": {help: "random seed, 0 to 2^64-1",
		parse: func(s string) (any, error) { return strconv.ParseUint(s, 10, 64) },
		apply: func(r *ipc.Request, v any) { n := v.(uint64); options(r).Seed = &n }},
	"max_tokens": {help: "stop a reply after this many tokens (0 = no cap)",
		parse: func(s string) (any, error) {
			n, err := strconv.Atoi(s)
			if err == nil && n < 0 {
				err = errors.New("must be >= 0")
			}
			return n, err
		},
		apply: func(r *ipc.Request, v any) { r.MaxTokens = v.(int) }},
}

// request returns the generate request for the conversation followed by
// the user's text.
func (s *chatSession) request(text string) *ipc.Request {
	req := &ipc.Request{Model: s.Model}
	if s.System != "" {
		req.Messages = append(req.Messages, ipc.Message{Role: "system", Content: s.System})
	}
	req.Messages = append(req.Messages, s.Messages...)
	req.Messages = append(req.Messages, ipc.Message{Role: "user", Content: text})
	for k, v := range s.Settings {
		settings[k].apply(req, v)
	}
	return req
}

const chatHelp = `Commands:
  /system [TEXT]      set the system message (without TEXT: show it)
  /set [KEY VALUE]    set a sampling option, e.g. /set temperature 0.7 (without: list them)
  /unset KEY          go back to the daemon's default for KEY
  /clear              forget the conversation (the system message stays)
  /save FILE          save the session (model, system message, options, conversation) as JSON
  /load FILE          continue a saved session
  /bye                leave (or Ctrl-D)
Input: a line is a message; """ starts and ends a multi-line one, and a
line ending in \ continues on the next. Ctrl-C stops a reply.
`

// errBye ends the session.
var errBye = errors.New("bye")

// command runs a slash command, writing what it reports to w. errBye
// ends the session; other errors are the user's mistakes, to report.
func (s *chatSession) command(w io.Writer, line string) error {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/help", "/?":
		fmt.Fprint(w, chatHelp)
	case "/bye", "/exit", "/quit":
		return errBye
	case "/system":
		if arg == "" {
			if s.System == "" {
				fmt.Fprintln(w, "(no system message)")
			} else {
				fmt.Fprintln(w, s.System)
			}
			return nil
		}
		s.System = arg
		fmt.Fprintln(w, "Set the system message.")
	case "/set":
		if arg == "" {
			s.listSettings(w)
			return nil
		}
		key, val, _ := strings.Cut(arg, " ")
		st, ok := settings[key]
		if !ok {
			return fmt.Errorf("unknown option %q (see /set)", key)
		}
		v, err := st.parse(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("/set %s %q: %v", key, strings.TrimSpace(val), err)
		}
		if s.Settings == nil {
			s.Settings = map[string]any{}
		}
		s.Settings[key] = v
		fmt.Fprintf(w, "Set %s to %v.\n", key, v)
	case "/unset":
		if _, ok := settings[arg]; !ok {
			return fmt.Errorf("unknown option %q (see /set)", arg)
		}
		delete(s.Settings, arg)
		fmt.Fprintf(w, "%s is the daemon's default again.\n", arg)
	case "/clear":
		s.Messages = nil
		fmt.Fprintln(w, "Cleared the conversation.")
	case "/save":
		if arg == "" {
			return errors.New("/save needs a file name")
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(arg, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "Saved %d messages to %s.\n", len(s.Messages), arg)
	case "/load":
		if arg == "" {
			return errors.New("/load needs a file name")
		}
		loaded, err := loadSession(arg)
		if err != nil {
			return err
		}
		model := s.Model
		*s = *loaded
		if s.Model != model {
			fmt.Fprintf(w, "(saved with model %s; continuing with %s)\n", s.Model, model)
			s.Model = model
		}
		fmt.Fprintf(w, "Loaded %d messages from %s.\n", len(s.Messages), arg)
	default:
		return fmt.Errorf("unknown command %s (/help lists them)", name)
	}
	return nil
}

func (s *chatSession) listSettings(w io.Writer) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := s.Settings[k]
		shown := "(default)"
		if ok {
			shown = fmt.Sprint(v)
		}
		fmt.Fprintf(w, "  %-18s %-10s %s\n", k, shown, settings[k].help)
	}
}

// loadSession reads a session /save wrote, checking its settings.
func loadSession(path string) (*chatSession, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		chatSession
		Settings map[string]json.Number `json:"settings"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: not a saved chat session: %v", path, err)
	}
	s := raw.chatSession
	s.Settings = nil
	for k, n := range raw.Settings {
		st, ok := settings[k]
		if !ok {
			return nil, fmt.Errorf("%s: unknown option %q", path, k)
		}
		v, err := st.parse(n.String())
		if err != nil {
			return nil, fmt.Errorf("%s: option %s %s: %v", path, k, n, err)
		}
		if s.Settings == nil {
			s.Settings = map[string]any{}
		}
		s.Settings[k] = v
	}
	return &s, nil
}
