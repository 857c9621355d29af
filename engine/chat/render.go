package chat

import "strings"

// Each renderer follows the reference Jinja template of its family as
// published with the models, minus the leading BOS token.

// chatml: <|im_start|>role\ncontent<|im_end|>\n per message.
func renderChatML(b *strings.Builder, msgs []Message, addAssistant bool) {
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if addAssistant {
		b.WriteString("<|im_start|>assistant\n")
	}
}

// llama2: [INST] user [/INST] assistant </s><s>[INST] ..., with the system
// prompt wrapped in <<SYS>> inside the first user turn. The assistant turn
// needs no opening, so addAssistant changes nothing.
func renderLlama2(b *strings.Builder, msgs []Message, _ bool) {
	msgs = foldSystem(msgs, func(sys, user string) string {
		return "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + user
	})
	for i, m := range msgs {
		if m.Role == RoleUser {
			if i > 0 {
				b.WriteString("<s>")
			}
			b.WriteString("[INST] " + strings.TrimSpace(m.Content) + " [/INST]")
		} else {
			b.WriteString(" " + strings.TrimSpace(m.Content) + " </s>")
		}
	}
}

// mistral (instruct v0.1/v0.2): [INST] user [/INST]assistant</s>; a system
// prompt is put before the first user message.
func renderMistral(b *strings.Builder, msgs []Message, _ bool) {
	msgs = foldSystem(msgs, func(sys, user string) string { return sys + "\n\n" + user })
	for _, m := range msgs {
		if m.Role == RoleUser {
			b.WriteString("[INST] " + m.Content + " [/INST]")
		} else {
			b.WriteString(m.Content + "</s>")
		}
	}
}

// llama3: <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>.
func renderLlama3(b *strings.Builder, msgs []Message, addAssistant bool) {
	for _, m := range msgs {
		b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + strings.TrimSpace(m.Content) + "<|eot_id|>")
	}
	if addAssistant {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
}

// zephyr: <|role|>\ncontent</s>\n.
func renderZephyr(b *strings.Builder, msgs []Message, addAssistant bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "</s>\n")
	}
	if addAssistant {
		b.WriteString("<|assistant|>\n")
	}
}

// gemma: <start_of_turn>user|model\ncontent<end_of_turn>\n. Gemma has no
// system turn (its published template raises an error for one), so, as
// llama.cpp does, the trimmed system prompt and a blank line open the
// first user turn. A system message alone becomes the user turn rather
// than being dropped, as llama.cpp would drop it, so no content is lost.
func renderGemma(b *strings.Builder, msgs []Message, addAssistant bool) {
	var sys string
	if msgs[0].Role == RoleSystem {
		sys, msgs = strings.TrimSpace(msgs[0].Content), msgs[1:]
		if len(msgs) == 0 {
			sys, msgs = "", []Message{{Role: RoleUser, Content: sys}}
		}
	}
	for _, m := range msgs {
		role := m.Role
		if role == RoleAssistant {
			role = "model"
		}
		b.WriteString("<start_of_turn>" + role + "\n")
		if sys != "" && role == RoleUser {
			b.WriteString(sys + "\n\n")
			sys = ""
		}
		b.WriteString(strings.TrimSpace(m.Content) + "<end_of_turn>\n")
	}
	if addAssistant {
		b.WriteString("<start_of_turn>model\n")
	}
}

// phi3: <|role|>\ncontent<|end|>\n. Phi-3's published template ends a
// prompt without the generation prompt with its EOS token; llama.cpp does
// not, and neither does this: a prompt that ends the conversation has no
// use for an end-of-text the model would only read.
func renderPhi3(b *strings.Builder, msgs []Message, addAssistant bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
	}
	if addAssistant {
		b.WriteString("<|assistant|>\n")
	}
}
