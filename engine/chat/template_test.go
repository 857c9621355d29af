package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
)

// Abridged tokenizer.chat_template sources as shipped in the GGUF files of
// each family.
var sources = map[string]string{
	"chatml":  `{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`,
	"llama2":  `{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\n' + messages[0]['content'] | trim + '\n<</SYS>>\n\n' %}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content | trim + ' ' + eos_token }}{% endif %}{% endfor %}`,
	"llama3":  `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}`,
	"mistral": `{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}`,
	"zephyr":  `{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + eos_token }}{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n'  + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}`,
	// google/gemma-2-2b-it, whole.
	"gemma": `{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}`,
	// microsoft/Phi-3-mini-4k-instruct, whole.
	"phi3": `{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}`,
}

func TestDetect(t *testing.T) {
	for want, src := range sources {
		got, err := Detect(src)
		if err != nil {
			t.Errorf("%s: %v", want, err)
			continue
		}
		if got.Name() != want {
			t.Errorf("Detect(%s source) = %s", want, got.Name())
		}
		byName, err := Detect(" " + want + "\n")
		if err != nil || byName.Name() != want {
			t.Errorf("Detect(%q) = %v, %v", want, byName.Name(), err)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	if _, err := Detect("  "); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("empty source: %v, want ErrNoTemplate", err)
	}
	src := "{% for m in messages %}### " + strings.Repeat("x", 100) + "{% endfor %}"
	_, err := Detect(src)
	if !errors.Is(err, ErrUnknownTemplate) {
		t.Fatalf("unknown source: %v, want ErrUnknownTemplate", err)
	}
	if !strings.Contains(err.Error(), `"{% for m in messages %}### xxx`) || !strings.Contains(err.Error(), "chatml") {
		t.Errorf("error should quote the template and list known ones: %v", err)
	}
	if _, err := ByName("vicuna"); !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), `"vicuna"`) {
		t.Errorf("ByName(vicuna): %v", err)
	}
}

func TestRender(t *testing.T) {
	sys := Message{Role: RoleSystem, Content: "Be brief."}
	u1 := Message{Role: RoleUser, Content: "Hi"}
	a1 := Message{Role: RoleAssistant, Content: "Hello."}
	u2 := Message{Role: RoleUser, Content: "Who are you?"}
	conv := []Message{sys, u1, a1, u2}
	tests := []struct {
		name string
		msgs []Message
		gen  bool
		want string
	}{
		{"chatml", conv, true, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"},
		{"chatml", []Message{u1}, false, "<|im_start|>user\nHi<|im_end|>\n"},
		{"llama2", conv, true, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Who are you? [/INST]"},
		{"llama2", []Message{{Role: RoleUser, Content: " Hi \n"}}, true, "[INST] Hi [/INST]"},
		{"llama3", conv, true, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"mistral", conv, true, "[INST] Be brief.\n\nHi [/INST]Hello.</s>[INST] Who are you? [/INST]"},
		{"mistral", []Message{u1}, true, "[INST] Hi [/INST]"},
		{"zephyr", conv, true, "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nWho are you?</s>\n<|assistant|>\n"},
		{"gemma", conv, true, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma", []Message{u1}, false, "<start_of_turn>user\nHi<end_of_turn>\n"},
		// llama.cpp trims the system prompt and the user turn each.
		{"gemma", []Message{{Role: RoleSystem, Content: " Be brief.\n"}, {Role: RoleUser, Content: "\tHi "}}, true, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma", []Message{{Role: RoleSystem, Content: "  "}, u1}, true, "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"},
		{"gemma", []Message{sys}, true, "<start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>model\n"},
		{"phi3", []Message{u1, a1}, false, "<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"},
		{"phi3", conv, true, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n"},
	}
	for _, tt := range tests {
		tmpl, err := ByName(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(Chat{Messages: tt.msgs, AddGenerationPrompt: tt.gen})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s render:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
	// foldSystem must not change the caller's messages.
	if conv[1].Content != "Hi" {
		t.Errorf("Render modified its input: %q", conv[1].Content)
	}
}

func TestRenderErrors(t *testing.T) {
	u := Message{Role: RoleUser, Content: "a"}
	a := Message{Role: RoleAssistant, Content: "b"}
	s := Message{Role: RoleSystem, Content: "c"}
	tests := []struct {
		tmpl string
		msgs []Message
		want string
	}{
		{"chatml", nil, "no messages"},
		{"chatml", []Message{{Role: "tool", Content: "x"}}, `unknown role "tool"`},
		{"chatml", []Message{u, s}, "system message may only come first"},
		{"llama2", []Message{a}, "starting with user; got assistant"},
		{"mistral", []Message{u, u}, "got user"},
		{"gemma", []Message{s, a}, "got assistant"},
	}
	for _, tt := range tests {
		tmpl, _ := ByName(tt.tmpl)
		_, err := tmpl.Render(Chat{Messages: tt.msgs, AddGenerationPrompt: true})
		if !errors.Is(err, ErrMessages) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: error %v, want ErrMessages containing %q", tt.tmpl, tt.msgs, err, tt.want)
		}
	}
	if _, err := (Template{}).Render(Chat{Messages: []Message{u}}); err == nil {
		t.Error("zero Template rendered without error")
	}
	// Non-alternating families accept consecutive user turns.
	tmpl, _ := ByName("chatml")
	if _, err := tmpl.Render(Chat{Messages: []Message{u, u}}); err != nil {
		t.Errorf("chatml two user turns: %v", err)
	}
}

func TestSourceOf(t *testing.T) {
	// stories260K carries no chat template.
	f, err := gguf.Open(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if src := SourceOf(f); src != "" {
		t.Errorf("SourceOf(stories260K) = %q, want empty", src)
	}
	if _, err := Detect(SourceOf(f)); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("Detect: %v, want ErrNoTemplate", err)
	}
}

// FuzzTemplates: detection of arbitrary template sources and rendering of
// arbitrary conversations never panic, and a rendered prompt holds every
// message's content.
func FuzzTemplates(f *testing.F) {
	for _, name := range Names() {
		f.Add(name, "system", "be brief", "user", "hi <|im_end|>")
	}
	f.Add("{% for m in messages %}<|im_start|>", "user", "a", "assistant", "b")
	f.Fuzz(func(t *testing.T, src, role1, content1, role2, content2 string) {
		tpl, err := Detect(src)
		if err != nil {
			return
		}
		msgs := []Message{{Role: role1, Content: content1}, {Role: role2, Content: content2}}
		out, err := tpl.Render(Chat{Messages: msgs, AddGenerationPrompt: true})
		if err != nil {
			return
		}
		for _, m := range msgs {
			if !strings.Contains(out, strings.TrimSpace(m.Content)) {
				t.Fatalf("%s: rendered prompt lacks %q:\n%s", tpl.Name(), m.Content, out)
			}
		}
	})
}
