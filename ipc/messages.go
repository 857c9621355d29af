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
	// Answered from the model's tokenizer alone, without loading weights.
	OpTokenize   = "tokenize"
	OpDetokenize = "detokenize"
	// Server to client.
	OpChunk  = "chunk"
	OpDone   = "done"
	OpResult = "result"
	OpError  = "error"
)

// Request is every client-to-server frame; which fields matter depends on
// Op. Unknown fields are ignored. The tags are how clients encode it;
// DecodeRequest decodes it field by field, strictly by type, and must name
// the same keys (TestDecodeRequestRoundTrip).
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
	// Tools are rendered through the model's chat template; ToolChoice
	// is "auto" (the default), "none", or a call forced: "required" (to
	// any tool), or a map {"type": "function", "function": {"name": N}},
	// decoded as "function" with ToolChoiceFunction N (and so written by
	// Client). A forced call is generated under a grammar of the model's
	// tool-call format.
	Tools              []JSON `msgpack:"tools,omitempty"`
	ToolChoice         string `msgpack:"tool_choice,omitempty"`
	ToolChoiceFunction string `msgpack:"-"`

	// KeepAlive, when set, is how long the model stays loaded after this
	// request (0: unload it once idle; negative: keep it), in place of the
	// daemon's --keep-alive: Ollama's keep_alive, which the HTTP API sets.
	KeepAlive *time.Duration `msgpack:"-"`

	// tokenize takes Prompt or Messages (and Tools); detokenize Tokens.
	// For a prompt, AddSpecial (default true) adds the model's BOS token
	// and ParseSpecial (default true) reads special-token text such as
	// "<|im_end|>" as that token, as generate does.
	Tokens       []int32 `msgpack:"tokens,omitempty"`
	AddSpecial   *bool   `msgpack:"add_special,omitempty"`
	ParseSpecial *bool   `msgpack:"parse_special,omitempty"`
	// Format is "json" or a JSON schema as JSON text; on the wire it may
	// also be the schema as a map, which DecodeRequest turns into text.
	Format      string `msgpack:"format,omitempty"`
	Grammar     string `msgpack:"grammar,omitempty"` // GBNF
	Logprobs    bool   `msgpack:"logprobs,omitempty"`
	TopLogprobs int    `msgpack:"top_logprobs,omitempty"`

	// embed
	Input      []string `msgpack:"input,omitempty"`
	Truncate   bool     `msgpack:"truncate,omitempty"`
	Dimensions int      `msgpack:"dimensions,omitempty"`
}

// Message is one chat turn. An assistant turn may carry the tool calls
// it made; a tool turn answers one (tool_call_id) of a tool (name).
type Message struct {
	Role       string     `msgpack:"role"`
	Content    string     `msgpack:"content"`
	ToolCalls  []ToolCall `msgpack:"tool_calls,omitempty"`
	ToolCallID string     `msgpack:"tool_call_id,omitempty"`
	Name       string     `msgpack:"name,omitempty"`
}

// ToolCall is one function call, in OpenAI's shape except that the
// arguments are a map rather than a JSON string (a string holding a JSON
// object is accepted too).
type ToolCall struct {
	ID       string       `msgpack:"id,omitempty"`
	Type     string       `msgpack:"type"` // "function"
	Function ToolFunction `msgpack:"function"`
}

// ToolFunction names the function called and its arguments.
type ToolFunction struct {
	Name      string `msgpack:"name"`
	Arguments JSON   `msgpack:"arguments"`
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
	// Seed nil is a new random seed per request, as -1 is on the wire.
	Seed *uint64 `msgpack:"seed,omitempty"`
	// ContextSize bounds the request's positions (prompt and output), at
	// most the daemon's context size for the model; nil is that size.
	ContextSize *int `msgpack:"context_size,omitempty"`
}

// Response is every server-to-client frame. It is encoded with the fields
// of its op only (see EncodeMsgpack); the tags are for decoding.
type Response struct {
	Op string `msgpack:"op"`
	ID uint64 `msgpack:"id"`

	// hello
	Version string `msgpack:"version,omitempty"`
	Server  string `msgpack:"server,omitempty"`

	// chunk (and done, for stream=false: the whole text)
	Text   string  `msgpack:"text,omitempty"`
	Tokens []int32 `msgpack:"tokens,omitempty"`
	// Logprobs has one entry per token when the request set logprobs.
	Logprobs []TokenLogprob `msgpack:"logprobs,omitempty"`

	// done
	Stats *Stats `msgpack:"stats,omitempty"`
	// ToolCalls (done, when the request offered tools and the model
	// called some) and Content, the reply's text outside the calls.
	ToolCalls []ToolCall `msgpack:"tool_calls,omitempty"`
	Content   string     `msgpack:"content,omitempty"`

	// result
	Embeddings [][]float32 `msgpack:"embeddings,omitempty"`
	// PromptTokens (embed) counts the tokens the model ran for all the
	// inputs; a daemon that predates it sends none.
	PromptTokens int         `msgpack:"prompt_tokens,omitempty"`
	Models       []ModelInfo `msgpack:"models,omitempty"`
	Status       *Status     `msgpack:"status,omitempty"`

	// error
	Code    string `msgpack:"code,omitempty"`
	Message string `msgpack:"message,omitempty"`

	// answers is the op a result frame answers, which picks its field.
	answers string
	// whole marks the done frame of a stream=false generation, which
	// carries the text and tokens even when they are empty.
	whole bool
}

// EncodeMsgpack writes r's op, id and the fields of its op, and nothing
// else: a client finds exactly the documented fields, and every list as an
// array, empty rather than nil.
func (r Response) EncodeMsgpack(enc *msgpack.Encoder) error {
	type field struct {
		key string
		val any
	}
	fields := []field{{"op", r.Op}, {"id", r.ID}}
	switch r.Op {
	case OpHello:
		fields = append(fields, field{"version", r.Version}, field{"server", r.Server})
	case OpChunk:
		fields = append(fields, field{"text", r.Text}, field{"tokens", orEmpty(r.Tokens)})
		if len(r.Logprobs) > 0 {
			fields = append(fields, field{"logprobs", r.Logprobs})
		}
	case OpDone:
		fields = append(fields, field{"stats", r.Stats})
		if r.whole {
			fields = append(fields, field{"text", r.Text}, field{"tokens", orEmpty(r.Tokens)})
			if len(r.Logprobs) > 0 {
				fields = append(fields, field{"logprobs", r.Logprobs})
			}
		}
		if len(r.ToolCalls) > 0 {
			fields = append(fields, field{"tool_calls", r.ToolCalls}, field{"content", r.Content})
		}
	case OpResult:
		switch r.answers {
		case OpEmbed:
			vecs := make([][]float32, len(r.Embeddings))
			for i, v := range r.Embeddings {
				vecs[i] = orEmpty(v)
			}
			fields = append(fields, field{"embeddings", vecs}, field{"prompt_tokens", r.PromptTokens})
		case OpModels:
			models := make([]ModelInfo, len(r.Models))
			for i, m := range r.Models {
				m.Capabilities = orEmpty(m.Capabilities)
				m.Types = orEmpty(m.Types)
				models[i] = m
			}
			fields = append(fields, field{"models", models})
		case OpStatus:
			fields = append(fields, field{"status", r.Status.lists()})
		case OpTokenize:
			fields = append(fields, field{"tokens", orEmpty(r.Tokens)})
		case OpDetokenize:
			fields = append(fields, field{"text", r.Text})
		}
	case OpError:
		fields = append(fields, field{"code", r.Code}, field{"message", r.Message})
	}
	if err := enc.EncodeMapLen(len(fields)); err != nil {
		return err
	}
	for _, f := range fields {
		if err := enc.EncodeString(f.key); err != nil {
			return err
		}
		if err := enc.Encode(f.val); err != nil {
			return fmt.Errorf("encoding %s of a %s frame: %w", f.key, r.Op, err)
		}
	}
	return nil
}

// lists returns a copy of s whose lists and counters are empty, not nil.
func (s *Status) lists() *Status {
	if s == nil {
		return nil
	}
	c := *s
	c.Pools = make([]PoolStatus, len(s.Pools))
	for i, p := range s.Pools {
		p.Models = orEmpty(p.Models)
		c.Pools[i] = p
	}
	c.Memory = orEmpty(s.Memory)
	if c.Counters == nil {
		c.Counters = map[string]uint64{}
	}
	return &c
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// TokenLogprob is a generated token's log-probability and the most likely
// alternatives of its draw (see docs/protocol.md).
type TokenLogprob struct {
	TopLogprob  `msgpack:",inline"`
	TopLogprobs []TopLogprob `msgpack:"top_logprobs"`
}

// TopLogprob is one token's log-probability. Token is its text, with
// U+FFFD for part of a UTF-8 sequence; Bytes are its exact bytes.
type TopLogprob struct {
	ID      int32   `msgpack:"id"`
	Token   string  `msgpack:"token"`
	Bytes   []byte  `msgpack:"bytes"`
	Logprob float32 `msgpack:"logprob"`
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
	// ToolCalls and Content go out on the done frame, beside the stats.
	ToolCalls []ToolCall `msgpack:"-"`
	Content   string     `msgpack:"-"`
}

// EmbedResult is what an embed request gives: the embed result frame's
// fields.
type EmbedResult struct {
	// Embeddings holds one vector per input, in order.
	Embeddings [][]float32
	// PromptTokens counts the tokens the model ran for all the inputs:
	// after truncation, with the special tokens ([CLS], [SEP], BOS) it
	// added. It is 0 from a daemon that predates the field.
	PromptTokens int
}

// ModelInfo describes a model the daemon can serve.
type ModelInfo struct {
	Name         string   `msgpack:"name"`
	Path         string   `msgpack:"path"`
	Size         int64    `msgpack:"size"`
	Capabilities []string `msgpack:"capabilities"`
	Loaded       bool     `msgpack:"loaded"`
	// Arch, ContextLength, Parameters and Types come from the GGUF
	// header at the daemon's last rescan: general.architecture,
	// {arch}.context_length (0 when absent), the elements of all tensors,
	// and the tensor types, most bytes first. They are zero for a file
	// whose header cannot be read.
	Arch          string        `msgpack:"arch"`
	ContextLength uint64        `msgpack:"context_length"`
	Parameters    uint64        `msgpack:"parameters"`
	Types         []TensorTypes `msgpack:"types"`
	// Refused says why the model cannot run (unreadable, or asking for a
	// feature vkinfer does not implement); empty for a usable model.
	Refused string `msgpack:"refused,omitempty"`
}

// TensorTypes counts a model's tensors of one type ("Q4_K", "F32") and
// the bytes they take in the file.
type TensorTypes struct {
	Type    string `msgpack:"type"`
	Tensors int    `msgpack:"tensors"`
	Bytes   uint64 `msgpack:"bytes"`
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
	// KVCache is a generation model's shared KV cache, nil for others.
	KVCache *KVCacheStatus `msgpack:"kv_cache,omitempty"`
}

// KVCacheStatus is the use of a model's KV cache, in cells (one cell
// holds one token's keys and values in every layer).
type KVCacheStatus struct {
	// Used cells are held by running requests; Cached ones hold prompt
	// prefixes a later request may reuse, and are taken back when no Free
	// cell is left.
	Used   int `msgpack:"used"`
	Cached int `msgpack:"cached"`
	Free   int `msgpack:"free"`
	// Sequences open (one per worker) and forward passes run.
	Sequences int    `msgpack:"sequences"`
	Steps     uint64 `msgpack:"steps"`
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

// DecodeResponse decodes a server frame's payload. scan runs first, so the
// decoder never meets hostile nesting or a length header claiming more
// than the frame holds.
func DecodeResponse(p []byte) (*Response, error) {
	if len(p) == 0 || !isMap(p[0]) {
		return nil, fmt.Errorf("%w: frame does not hold a msgpack map", ErrMalformed)
	}
	if err := scan(p); err != nil {
		return nil, err
	}
	var r Response
	if err := msgpack.Unmarshal(p, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &r, nil
}

// isMap reports whether a msgpack type byte starts a map (fixmap, map16,
// map32).
func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }
