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
	// ErrMessages: the messages cannot be rendered (empty list, bad role
	// or order).
	ErrMessages = errors.New("chat: invalid messages")
)

// Roles a Message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // RoleSystem, RoleUser or RoleAssistant
	Content string
}

// Template is a known chat template family. The zero value is not usable;
// get one from Detect or ByName.
type Template struct {
	name string
	f    family
}

// Name returns the family name: chatml, llama2, llama3, mistral, zephyr,
// gemma or phi3.
func (t Template) Name() string { return t.name }

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

// Render returns the prompt for msgs. With addAssistant it ends with the
// opening of an assistant turn, so the model continues as the assistant.
func (t Template) Render(msgs []Message, addAssistant bool) (string, error) {
	if t.f.render == nil {
		return "", fmt.Errorf("%w: zero Template", ErrUnknownTemplate)
	}
	if err := t.check(msgs); err != nil {
		return "", err
	}
	var b strings.Builder
	t.f.render(&b, msgs, addAssistant)
	return b.String(), nil
}

func (t Template) check(msgs []Message) error {
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no messages", ErrMessages)
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
