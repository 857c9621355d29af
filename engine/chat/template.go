package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrNoTemplate: the model carries no chat template.
	ErrNoTemplate = errors.New("chat: model has no chat template")
	// ErrUnknownTemplate: the template matches no known family.
	ErrUnknownTemplate = errors.New("chat: unknown chat template")
	// ErrTemplate: the model's Jinja source does not compile.
	ErrTemplate = errors.New("chat: chat template does not compile")
	// ErrMessages: the messages cannot be rendered (empty list, bad role
	// or order, tool call arguments that are not a JSON object).
	ErrMessages = errors.New("chat: invalid messages")
	// ErrTools: the tools are not JSON objects, or the template cannot
	// render tools.
	ErrTools = errors.New("chat: invalid tools")
	// ErrRaised: the template rejected the conversation with
	// raise_exception (e.g. a system turn for Gemma).
	ErrRaised = errors.New("chat: the chat template refused the conversation")
	// ErrRender: the template failed on this conversation otherwise (an
	// undefined operation, as Python's jinja2 would fail too).
	ErrRender = errors.New("chat: rendering the chat template failed")
)

// Tokens are the special-token texts a Jinja template may print.
type Tokens struct {
	BOS, EOS string
}

// Template renders chats: the model's own Jinja template, or a
// hand-written family for a template named by family. The zero value is
// not usable; get one from Parse, Detect or ByName.
type Template struct {
	name  string // family name, or "jinja"
	f     family
	j     *jinjaTemplate
	tools ToolFormat
	// fallback is why the model's Jinja source was replaced by its
	// hand-written family.
	fallback error
}

// Name returns "jinja" for a model's own template, else the family name:
// chatml, llama2, llama3, mistral, zephyr, gemma or phi3.
func (t Template) Name() string { return t.name }

// Tools returns how the model writes tool calls, as far as its template
// tells (ToolsNone when it renders no tools).
func (t Template) Tools() ToolFormat { return t.tools }

// Fallback returns why a model's Jinja template was replaced by the
// hand-written family it resembles (it does not compile), or nil.
func (t Template) Fallback() error { return t.fallback }

// Parse returns the template for a tokenizer.chat_template source: the
// Jinja source itself, rendered as transformers renders it. A source that
// is just a family name ("chatml") selects that hand-written family, so a
// user can override a model's template by name. A source that does not
// compile falls back to the family it resembles (see Fallback), or fails
// with ErrTemplate.
func Parse(src string, tok Tokens) (Template, error) {
	name := strings.TrimSpace(src)
	if name == "" {
		return Template{}, ErrNoTemplate
	}
	if _, ok := families[name]; ok {
		return ByName(name)
	}
	j, err := compileJinja(src, tok)
	if err == nil {
		return Template{name: "jinja", j: j, tools: detectTools(src)}, nil
	}
	fam, ferr := Detect(src)
	if ferr != nil {
		return Template{}, err
	}
	fam.fallback = err
	return fam, nil
}

// family renders one template family.
type family struct {
	// alternate: the template requires user/assistant alternation starting
	// with user after an optional system message.
	alternate bool
	render    func(b *strings.Builder, msgs []Message, addAssistant bool)
}

var families = map[string]family{
	"chatml":  {render: renderChatML},
	"llama2":  {alternate: true, render: renderLlama2},
	"llama3":  {render: renderLlama3},
	"mistral": {alternate: true, render: renderMistral},
	"zephyr":  {render: renderZephyr},
	"gemma":   {alternate: true, render: renderGemma},
	"phi3":    {render: renderPhi3},
}

// Names returns the known template family names, sorted.
func Names() []string {
	return []string{"chatml", "gemma", "llama2", "llama3", "mistral", "phi3", "zephyr"}
}

// ByName returns the template family called name.
func ByName(name string) (Template, error) {
	f, ok := families[name]
	if !ok {
		return Template{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownTemplate, name, strings.Join(Names(), ", "))
	}
	return Template{name: name, f: f}, nil
}

// Detect identifies the family of a tokenizer.chat_template source. A
// source that is just a family name ("chatml") selects that family, so a
// user can override a model's template by name.
func Detect(src string) (Template, error) {
	if strings.TrimSpace(src) == "" {
		return Template{}, ErrNoTemplate
	}
	if _, ok := families[strings.TrimSpace(src)]; ok {
		return ByName(strings.TrimSpace(src))
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if !strings.Contains(src, s) {
				return false
			}
		}
		return true
	}
	// Order matters: phi3 and zephyr share <|user|>/<|assistant|>, and only
	// phi3 ends turns with <|end|>; llama2 and mistral share [INST], and
	// only llama2 wraps the system prompt in <<SYS>>.
	var name string
	switch {
	case has("<|im_start|>"):
		name = "chatml"
	case has("<|start_header_id|>", "<|end_header_id|>"):
		name = "llama3"
	case has("<start_of_turn>"):
		name = "gemma"
	case has("<|assistant|>", "<|end|>"):
		name = "phi3"
	case has("<|user|>", "<|assistant|>"):
		name = "zephyr"
	case has("[INST]", "<<SYS>>"):
		name = "llama2"
	case has("[INST]"):
		name = "mistral"
	default:
		return Template{}, fmt.Errorf("%w: %s (known families: %s)", ErrUnknownTemplate, excerpt(src), strings.Join(Names(), ", "))
	}
	return ByName(name)
}

// excerpt quotes the start of a template source for error messages.
func excerpt(src string) string {
	const n = 80
	s := strings.Join(strings.Fields(src), " ")
	if len(s) > n {
		return fmt.Sprintf("%q... (%d bytes)", s[:n], len(src))
	}
	return fmt.Sprintf("%q", s)
}

// Render returns the prompt for c, byte for byte what transformers'
// apply_chat_template gives for a Jinja template (a leading BOS token
// included, when the template prints one).
func (t Template) Render(c Chat) (string, error) {
	if t.j == nil && t.f.render == nil {
		return "", fmt.Errorf("%w: zero Template", ErrUnknownTemplate)
	}
	if err := t.check(c); err != nil {
		return "", err
	}
	if t.j != nil {
		return t.j.render(c)
	}
	var b strings.Builder
	t.f.render(&b, c.Messages, c.AddGenerationPrompt)
	return b.String(), nil
}

// Prompt renders c for a tokenizer: when the tokenizer adds the BOS token
// itself, a BOS the template printed is dropped so that it is not doubled
// (as llama.cpp does). Hand-written families never print it.
func (t Template) Prompt(c Chat, tokenizerAddsBOS bool) (string, error) {
	text, err := t.Render(c)
	if err != nil {
		return "", err
	}
	if t.j != nil && tokenizerAddsBOS && t.j.tokens.BOS != "" {
		text = strings.TrimPrefix(text, t.j.tokens.BOS)
	}
	return text, nil
}

func (t Template) check(c Chat) error {
	msgs := c.Messages
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no messages", ErrMessages)
	}
	if t.j != nil {
		// The model's template judges roles and order itself.
		for i, m := range msgs {
			if m.Role == "" {
				return fmt.Errorf("%w: message %d has no role", ErrMessages, i)
			}
		}
		return nil
	}
	if len(c.Tools) > 0 {
		return fmt.Errorf("%w: the hand-written %s template renders no tools; the model needs a chat template of its own for them", ErrTools, t.name)
	}
	want := RoleUser
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem:
			if i != 0 {
				return fmt.Errorf("%w: message %d: a system message may only come first", ErrMessages, i)
			}
			continue
		case RoleUser, RoleAssistant:
			if len(m.ToolCalls) > 0 {
				return fmt.Errorf("%w: message %d: the hand-written %s template renders no tool calls", ErrMessages, i, t.name)
			}
		default:
			return fmt.Errorf("%w: message %d: unknown role %q (want system, user or assistant)", ErrMessages, i, m.Role)
		}
		if t.f.alternate {
			if m.Role != want {
				return fmt.Errorf("%w: message %d: %s template needs user and assistant turns to alternate, starting with user; got %s", ErrMessages, i, t.name, m.Role)
			}
			if want == RoleUser {
				want = RoleAssistant
			} else {
				want = RoleUser
			}
		}
	}
	return nil
}

// foldSystem merges a leading system message into the first user message
// for families without a system turn, joined by join.
func foldSystem(msgs []Message, join func(sys, user string) string) []Message {
	if len(msgs) < 2 || msgs[0].Role != RoleSystem {
		return msgs
	}
	out := append([]Message(nil), msgs[1:]...)
	out[0].Content = join(msgs[0].Content, out[0].Content)
	return out
}
