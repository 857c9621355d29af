// Command vkinferd is the vkinfer daemon: it loads GGUF models on demand,
// runs them on a Vulkan device or the CPU, and serves text generation and
// embeddings over a msgpack-framed Unix socket (see docs/protocol.md). The
// same socket, and with --http a TCP listener with a bearer token, serves
// the OpenAI- and Ollama-compatible HTTP API (docs/http.md); both reach the
// pools through one handler.
//
// Configuration comes from, in increasing precedence: built-in defaults,
// the TOML file $XDG_CONFIG_HOME/vkinfer/config.toml (or --config /
// VKINFER_CONFIG), VKINFER_* environment variables, and flags.
package main
