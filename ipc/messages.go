package ipc

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Protocol version. A peer of another major version is refused; minor
// versions only add fields and ops, which older peers ignore.
const (
	VersionMajor = 1
	VersionMinor = 0
)

// Version is the version string this package speaks, "major.minor".
var Version = fmt.Sprintf("%d.%d", VersionMajor, VersionMinor)

// Ops.
const (
	OpHello    = "hello"
	OpPing     = "ping"
	OpGenerate = "generate"
	OpEmbed    = "embed"
	OpModels   = "models"
	OpLoad     = "load"
	OpUnload   = "unload"
	OpStatus   = "status"
	OpCancel   = "cancel"
	// Server to client.
	OpChunk  = "chunk"
	OpDone   = "done"
	OpResult = "result"
	OpError  = "error"
)

// Request is every client-to-server frame; which fields matter depends on
// Op. Unknown fields are ignored.
type Request struct {
	Op string `msgpack:"op"`
	ID uint64 `msgpack:"id"`

	// hello
	Version string `msgpack:"version,omitempty"`
	Client  string `msgpack:"client,omitempty"`

	// generate, embed, load, unload
	Model string `msgpack:"model,omitempty"`

	// generate
	Prompt    string    `msgpack:"prompt,omitempty"`
	Messages  []Message `msgpack:"messages,omitempty"`
	Options   *Options  `msgpack:"options,omitempty"`
	MaxTokens int       `msgpack:"max_tokens,omitempty"`
	Stop      []string  `msgpack:"stop,omitempty"`
	Stream    *bool     `msgpack:"stream,omitempty"` // default true

	// embed
	Input      []string `msgpack:"input,omitempty"`
	Truncate   bool     `msgpack:"truncate,omitempty"`
	Dimensions int      `msgpack:"dimensions,omitempty"`
}

// Message is one chat turn.
type Message struct {
	Role    string `msgpack:"role"`
	Content string `msgpack:"content"`
}

// Options are sampling parameters; a nil field takes the daemon's default.
// Floats are float64 on the wire because most msgpack libraries write
// every float as a float64.
type Options struct {
	Temperature      *float64 `msgpack:"temperature,omitempty"`
	TopK             *int     `msgpack:"top_k,omitempty"`
	TopP             *float64 `msgpack:"top_p,omitempty"`
	MinP             *float64 `msgpack:"min_p,omitempty"`
	RepeatPenalty    *float64 `msgpack:"repeat_penalty,omitempty"`
	RepeatLastN      *int     `msgpack:"repeat_last_n,omitempty"`
	PresencePenalty  *float64 `msgpack:"presence_penalty,omitempty"`
	FrequencyPenalty *float64 `msgpack:"frequency_penalty,omitempty"`
	Seed             *uint64  `msgpack:"seed,omitempty"`
}

// Response is every server-to-client frame.
type Response struct {
	Op string `msgpack:"op"`
	ID uint64 `msgpack:"id"`

	// hello
	Version string `msgpack:"version,omitempty"`
	Server  string `msgpack:"server,omitempty"`

	// chunk (and done, for stream=false: the whole text)
	Text   string  `msgpack:"text,omitempty"`
	Tokens []int32 `msgpack:"tokens,omitempty"`

	// done
	Stats *Stats `msgpack:"stats,omitempty"`

	// result
	Embeddings [][]float32 `msgpack:"embeddings,omitempty"`
	Models     []ModelInfo `msgpack:"models,omitempty"`
	Status     *Status     `msgpack:"status,omitempty"`

	// error
	Code    string `msgpack:"code,omitempty"`
	Message string `msgpack:"message,omitempty"`
}

// Stats close a generation: why it stopped, counts and timings.
type Stats struct {
	StopReason      string  `msgpack:"stop_reason"`
	PromptTokens    int     `msgpack:"prompt_tokens"`
	CachedTokens    int     `msgpack:"cached_tokens"`
	GeneratedTokens int     `msgpack:"generated_tokens"`
	LoadNs          int64   `msgpack:"load_ns"`
	PromptNs        int64   `msgpack:"prompt_ns"`
	GenerationNs    int64   `msgpack:"generation_ns"`
	FirstTokenNs    int64   `msgpack:"first_token_ns"`
	PromptTPS       float64 `msgpack:"prompt_tps"`
	GenerationTPS   float64 `msgpack:"generation_tps"`
}

// ModelInfo describes a model the daemon can serve.
type ModelInfo struct {
	Name         string   `msgpack:"name"`
	Path         string   `msgpack:"path"`
	Size         int64    `msgpack:"size"`
	Capabilities []string `msgpack:"capabilities,omitempty"`
	Loaded       bool     `msgpack:"loaded"`
	// Refused says why the model cannot run (unreadable, or asking for a
	// feature vkinfer does not implement); empty for a usable model.
	Refused string `msgpack:"refused,omitempty"`
}

// Status is the daemon's state.
type Status struct {
	Server  string        `msgpack:"server"`
	Uptime  time.Duration `msgpack:"uptime_ns"`
	Device  string        `msgpack:"device"`
	Backend string        `msgpack:"backend"`
	Pools   []PoolStatus  `msgpack:"pools"`
	Memory  []MemoryUse   `msgpack:"memory"`
	// Counters are daemon-wide totals (requests, errors, tokens).
	Counters map[string]uint64 `msgpack:"counters"`
}

// PoolStatus is one capability's pool.
type PoolStatus struct {
	Capability string        `msgpack:"capability"`
	Models     []ModelStatus `msgpack:"models"`
}

// ModelStatus is one loaded (or failing) model.
type ModelStatus struct {
	Name     string    `msgpack:"name"`
	Backend  string    `msgpack:"backend"`
	Device   string    `msgpack:"device"`
	Memory   uint64    `msgpack:"memory"`
	Workers  int       `msgpack:"workers"`
	Queued   int       `msgpack:"queued"`
	Running  int       `msgpack:"running"`
	LastUse  time.Time `msgpack:"last_use"`
	Breaker  string    `msgpack:"breaker"`
	LastErr  string    `msgpack:"last_error,omitempty"`
	RetryAt  time.Time `msgpack:"retry_at,omitempty"`
	Requests uint64    `msgpack:"requests"`
}

// MemoryUse is one device's memory budget.
type MemoryUse struct {
	Device string `msgpack:"device"`
	Used   uint64 `msgpack:"used"`
	Limit  uint64 `msgpack:"limit"`
}

// Marshal encodes v as one msgpack map.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("msgpack")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeRequest decodes a client frame's payload.
func DecodeRequest(p []byte) (*Request, error) {
	var r Request
	if err := unmarshal(p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeResponse decodes a server frame's payload.
func DecodeResponse(p []byte) (*Response, error) {
	var r Response
	if err := unmarshal(p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// unmarshal decodes one msgpack map into v, refusing anything else. scan
// runs first, so the decoder never meets hostile nesting or a length
// header claiming more than the frame holds.
func unmarshal(p []byte, v any) error {
	if len(p) == 0 || !isMap(p[0]) {
		return fmt.Errorf("%w: frame does not hold a msgpack map", ErrMalformed)
	}
	if err := scan(p); err != nil {
		return err
	}
	r := bytes.NewReader(p)
	dec := msgpack.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d bytes after the map", ErrMalformed, r.Len())
	}
	return nil
}

// isMap reports whether a msgpack type byte starts a map (fixmap, map16,
// map32).
func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }
