// Package chat renders chat conversations into a prompt with the model's
// chat template, and parses tool calls out of a model's reply.
//
// GGUF files carry the template as Jinja source in tokenizer.chat_template.
// Parse compiles it with a Jinja engine (github.com/ardanlabs/jinja) and
// Render runs it as Hugging Face transformers' apply_chat_template does:
// the same variables (messages, tools, add_generation_prompt, bos_token,
// eos_token) and globals (raise_exception, strftime_now), and
// transformers' tojson, which keeps key order (see tojson.go). The parity
// test holds the result to Python jinja2's byte for byte
// (testdata/render.py makes the expected output). Macros may nest 400
// calls deep, beyond where jinja2 itself stops; a template that recurses
// without end fails its render instead of overflowing the stack, which
// would kill the daemon (see macrodepth.go).
//
// Seven hand-written families (chatml, llama2, llama3, mistral, zephyr,
// gemma, phi3) remain for a template given by family name, and as the
// fallback for a source the engine cannot compile. They never print the
// BOS token; Template.Prompt drops a BOS a Jinja template prints when the
// tokenizer adds its own, so it is not doubled. Special tokens inside the
// rendered text (<|im_start|>, [INST], </s>, ...) are meant to be parsed
// as special tokens.
package chat
