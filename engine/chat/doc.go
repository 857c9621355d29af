// Package chat renders chat messages into a prompt with the model's chat
// template. GGUF files carry the template as Jinja source in
// tokenizer.chat_template; rather than run a Jinja engine, Detect matches
// the source against the signatures of the common template families and
// each family is rendered by plain Go code.
//
// Rendered prompts never start with the beginning-of-sequence token: the
// tokenizer adds it (Encode with addSpecial), so it is not doubled. Special
// tokens inside the rendered text (<|im_start|>, [INST], </s>, ...) are meant
// to be parsed as special tokens.
package chat
