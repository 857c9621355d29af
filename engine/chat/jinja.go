package chat

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// jinjaTemplate is a model's own template, compiled.
type jinjaTemplate struct {
	t      *jinja.Template
	tokens Tokens
}

func compileJinja(src string, tok Tokens) (j *jinjaTemplate, err error) {
	// The source comes from a model file: a panic in the engine is the
	// file's error, not the daemon's crash.
	defer func() {
		if p := recover(); p != nil {
			j, err = nil, fmt.Errorf("%w: the Jinja engine failed: %v", ErrTemplate, p)
		}
	}()
	t, err := jinja.Compile(rewriteMacros(rewriteToJSON(src)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return &jinjaTemplate{t: t, tokens: tok}, nil
}

// render runs the template with the variables transformers'
// apply_chat_template passes: messages, tools (none when absent),
// add_generation_prompt, bos_token and eos_token, and the globals
// raise_exception and strftime_now.
func (j *jinjaTemplate) render(c Chat) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = "", fmt.Errorf("%w: the Jinja engine failed: %v", ErrRender, p)
		}
	}()
	msgs := make([]jinja.Value, len(c.Messages))
	for i, m := range c.Messages {
		v, err := messageValue(m)
		if err != nil {
			return "", fmt.Errorf("%w: message %d: %w", ErrMessages, i, err)
		}
		msgs[i] = v
	}
	tools := jinja.None()
	if len(c.Tools) > 0 {
		list := make([]jinja.Value, len(c.Tools))
		for i, raw := range c.Tools {
			v, err := jsonValue(raw)
			if err != nil || !v.IsDict() {
				return "", fmt.Errorf("%w: tool %d is not a JSON object (%v)", ErrTools, i, err)
			}
			list[i] = v
		}
		tools = jinja.NewList(list)
	}
	var raised error
	var depth macroDepth
	globals := map[string]jinja.Value{
		"messages":              jinja.NewList(msgs),
		"tools":                 tools,
		"documents":             jinja.None(),
		"add_generation_prompt": jinja.NewBool(c.AddGenerationPrompt),
		"bos_token":             jinja.NewString(j.tokens.BOS),
		"eos_token":             jinja.NewString(j.tokens.EOS),
		"raise_exception": jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			msg := "raise_exception called"
			if len(args) > 0 && args[0].IsString() {
				msg = args[0].AsString()
			} else if len(args) > 0 {
				msg = args[0].String()
			}
			raised = fmt.Errorf("%w: %s", ErrRaised, msg)
			return jinja.Undefined(), raised
		}),
		"strftime_now": jinja.NewCallable("strftime_now", strftimeNow),
		tojsonGlobal:   jinja.NewCallable("tojson", tojson),
	}
	for name, v := range depth.globals() {
		globals[name] = v
	}
	out, err = j.t.RenderValues(globals)
	switch {
	case raised != nil:
		return "", raised
	case depth.err != nil:
		return "", depth.err
	case err != nil:
		return "", fmt.Errorf("%w: %v", ErrRender, err)
	}
	return out, nil
}

// strftimeNow formats the current time with a C strftime format, for
// templates (Llama 3.2) that print today's date.
func strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 || !args[0].IsString() {
		return jinja.Undefined(), errors.New("strftime_now takes one format string")
	}
	return jinja.NewString(strftime(args[0].AsString(), time.Now())), nil
}

// strftime formats t with the strftime directives templates use.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'B':
			b.WriteString(t.Month().String())
		case 'b':
			b.WriteString(t.Month().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
