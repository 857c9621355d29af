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

// gemma: <start_of_turn>user|model\ncontent<end_of_turn>\n; no system
// turn, so the system prompt is put before the first user message.
func renderGemma(b *strings.Builder, msgs []Message, addAssistant bool) {
	msgs = foldSystem(msgs, func(sys, user string) string { return sys + "\n\n" + user })
	for _, m := range msgs {
		role := m.Role
		if role == RoleAssistant {
			role = "model"
		}
		b.WriteString("<start_of_turn>" + role + "\n" + strings.TrimSpace(m.Content) + "<end_of_turn>\n")
	}
	if addAssistant {
		b.WriteString("<start_of_turn>model\n")
	}
}

// phi3: <|role|>\ncontent<|end|>\n.
func renderPhi3(b *strings.Builder, msgs []Message, addAssistant bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
	}
	if addAssistant {
		b.WriteString("<|assistant|>\n")
	}
}
