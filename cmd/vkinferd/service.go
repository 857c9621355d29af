package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/pool"
	"github.com/vkinfer/vkinfer/sampling"
)

// service serves the protocol's requests from its pools.
type service struct {
	cfg     Config
	reg     *Registry
	files   *files
	vocabs  *vocabs
	text    *pool.TextToText
	embed   *pool.TextEmbedding
	metrics *engine.Metrics
	backend *backend
	started time.Time
}

func newService(cfg Config, reg *Registry, be *backend, budget uint64, log *slog.Logger) *service {
	logf := func(format string, args ...any) { log.Error(fmt.Sprintf(format, args...)) }
	d := &service{cfg: cfg, reg: reg, metrics: &engine.Metrics{}, backend: be, started: time.Now()}
	d.files = &files{reg: reg, m: map[string]*openFile{}, backend: be, kvType: cfg.KVType, flash: cfg.FlashAttn}
	d.vocabs = &vocabs{reg: reg}
	b := pool.NewBudget(budget, nil)
	pc := pool.Config{
		Budget:         b,
		Parallel:       cfg.Parallel,
		QueueSize:      cfg.MaxQueue,
		RequestTimeout: cfg.Timeout,
		KeepAlive:      cfg.KeepAlive,
		Logf:           logf,
	}
	d.text = pool.NewTextToText(&textLoader{files: d.files, cfg: cfg, metrics: d.metrics, log: log}, pc)
	d.embed = pool.NewTextEmbedding(&embedLoader{files: d.files, cfg: cfg}, pc)
	return d
}

// shutdown drains both pools.
func (d *service) shutdown(ctx context.Context) error {
	return errors.Join(d.text.Shutdown(ctx), d.embed.Shutdown(ctx))
}

// protocolError gives pool and engine errors their protocol codes.
func protocolError(err error) error {
	if err == nil {
		return nil
	}
	var e *ipc.Error
	if errors.As(err, &e) {
		return err
	}
	code := ""
	switch {
	case errors.Is(err, context.Canceled):
		code = ipc.CodeCanceled
	case errors.Is(err, pool.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code = ipc.CodeTimeout
	case errors.Is(err, pool.ErrBusy):
		code = ipc.CodeBusy
	case errors.Is(err, pool.ErrNoMemory):
		code = ipc.CodeNoMemory
	case errors.Is(err, pool.ErrBackoff):
		code = ipc.CodeUnavailable
	case errors.Is(err, pool.ErrClosed):
		code = ipc.CodeShutdown
	case errors.Is(err, pool.ErrNotLoaded), errors.Is(err, ErrUnknownModel):
		code = ipc.CodeUnknownModel
	case errors.Is(err, engine.ErrPromptTooLong):
		code = ipc.CodeContextFull
	case errors.Is(err, engine.ErrInvalid), errors.Is(err, sampling.ErrInvalid), errors.Is(err, pool.ErrInvalid),
		errors.Is(err, chat.ErrNoTemplate), errors.Is(err, chat.ErrTemplate), errors.Is(err, ErrBadName), errors.Is(err, model.ErrOption):
		code = ipc.CodeBadRequest
	default:
		code = ipc.CodeInternal
	}
	return &ipc.Error{Code: code, Message: err.Error()}
}

// engineRequest maps a generate request onto the engine's, applying the
// sampling defaults where the request sets nothing. The defaults have no
// penalties, so temperature 0 alone is the argmax of the raw logits.
func engineRequest(req *ipc.Request) engine.Request {
	p := sampling.Defaults()
	p.Seed = uint64(time.Now().UnixNano()) // a request without a seed gets a new one
	if o := req.Options; o != nil {
		setFloat(&p.Temperature, o.Temperature)
		set(&p.TopK, o.TopK)
		setFloat(&p.TopP, o.TopP)
		setFloat(&p.MinP, o.MinP)
		setFloat(&p.RepeatPenalty, o.RepeatPenalty)
		set(&p.RepeatLastN, o.RepeatLastN)
		setFloat(&p.PresencePenalty, o.PresencePenalty)
		setFloat(&p.FrequencyPenalty, o.FrequencyPenalty)
		set(&p.Seed, o.Seed)
	}
	er := engine.Request{Prompt: req.Prompt, Params: p, MaxTokens: req.MaxTokens, Stop: req.Stop,
		Format: req.Format, Grammar: req.Grammar, Logprobs: req.Logprobs, TopLogprobs: req.TopLogprobs}
	if o := req.Options; o != nil && o.ContextSize != nil {
		er.ContextSize = *o.ContextSize
	}
	for _, m := range req.Messages {
		cm := chat.Message{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID, Name: m.Name}
		for _, c := range m.ToolCalls {
			cm.ToolCalls = append(cm.ToolCalls, chat.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: json.RawMessage(c.Function.Arguments)})
		}
		er.Messages = append(er.Messages, cm)
	}
	for _, t := range req.Tools {
		er.Tools = append(er.Tools, json.RawMessage(t))
	}
	er.NoToolCalls = req.ToolChoice == "none"
	switch req.ToolChoice {
	case "required":
		er.ForceTool = engine.AnyTool
	case "function":
		er.ForceTool = req.ToolChoiceFunction
	}
	return er
}

// checkToolChoice refuses a tool_choice the protocol does not name.
func checkToolChoice(req *ipc.Request) error {
	switch req.ToolChoice {
	case "", "auto", "none", "required":
		return nil
	case "function":
		if req.ToolChoiceFunction == "" {
			return ipc.Errorf(ipc.CodeBadRequest, "tool_choice \"function\" needs the map form naming the function: {\"type\": \"function\", \"function\": {\"name\": ...}}")
		}
		return nil
	}
	return ipc.Errorf(ipc.CodeBadRequest, "tool_choice %q is not one of auto, none, required or a function", req.ToolChoice)
}

// toolCalls returns the engine's tool calls in the protocol's shape.
func toolCalls(calls []chat.ToolCall) []ipc.ToolCall {
	var out []ipc.ToolCall
	for _, c := range calls {
		out = append(out, ipc.ToolCall{ID: c.ID, Type: "function", Function: ipc.ToolFunction{Name: c.Name, Arguments: ipc.JSON(c.Arguments)}})
	}
	return out
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setFloat(dst *float32, v *float64) {
	if v != nil {
		*dst = float32(*v)
	}
}

// Generate implements ipc.Handler.
func (d *service) Generate(ctx context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	if err := CheckName(req.Model); err != nil {
		return nil, protocolError(err)
	}
	if req.MaxTokens < 0 {
		return nil, ipc.Errorf(ipc.CodeBadRequest, "max_tokens %d must be >= 0", req.MaxTokens)
	}
	if err := checkToolChoice(req); err != nil {
		return nil, err
	}
	res, err := d.text.Generate(keepAlive(ctx, req), req.Model, engineRequest(req), func(c engine.Chunk) error {
		return emit(ipc.Chunk{Text: c.Text, Tokens: c.Tokens, Logprobs: wireLogprobs(c.Logprobs)})
	})
	if err != nil {
		return nil, protocolError(err)
	}
	return &ipc.Stats{
		StopReason:      string(res.StopReason),
		PromptTokens:    res.PromptTokens,
		CachedTokens:    res.CachedTokens,
		GeneratedTokens: res.GeneratedTokens,
		LoadNs:          res.LoadDuration.Nanoseconds(),
		PromptNs:        res.PromptDuration.Nanoseconds(),
		GenerationNs:    res.GenerationDuration.Nanoseconds(),
		FirstTokenNs:    res.TimeToFirstToken.Nanoseconds(),
		PromptTPS:       res.PromptTokensPerSecond,
		GenerationTPS:   res.GenerationTokensPerSecond,
		ToolCalls:       toolCalls(res.ToolCalls),
		Content:         res.Content,
	}, nil
}

// keepAlive returns ctx carrying the request's keep-alive, if it has one.
func keepAlive(ctx context.Context, req *ipc.Request) context.Context {
	if req.KeepAlive != nil {
		return pool.WithKeepAlive(ctx, *req.KeepAlive)
	}
	return ctx
}

// Embed implements ipc.Handler.
func (d *service) Embed(ctx context.Context, req *ipc.Request) (ipc.EmbedResult, error) {
	if err := CheckName(req.Model); err != nil {
		return ipc.EmbedResult{}, protocolError(err)
	}
	if req.Dimensions < 0 {
		return ipc.EmbedResult{}, ipc.Errorf(ipc.CodeBadRequest, "dimensions %d must be >= 0", req.Dimensions)
	}
	opts := model.EmbedOptions{Truncate: req.Truncate, Dimensions: req.Dimensions}
	var out model.Embeddings
	err := d.embed.Do(keepAlive(ctx, req), req.Model, func(ctx context.Context, inst pool.Embedder) error {
		e, ok := inst.(optionEmbedder)
		if !ok {
			return fmt.Errorf("embedding instance of type %T", inst)
		}
		var err error
		out, err = e.embedWith(ctx, req.Input, opts)
		return err
	})
	if err != nil {
		return ipc.EmbedResult{}, protocolError(err)
	}
	return ipc.EmbedResult{Embeddings: out.Vectors, PromptTokens: out.TotalTokens()}, nil
}

// Models implements ipc.Handler.
func (d *service) Models(ctx context.Context) ([]ipc.ModelInfo, error) {
	loaded := map[string]bool{}
	for _, st := range []pool.Status{d.text.Status(), d.embed.Status()} {
		for _, m := range st.Models {
			if len(m.Workers) > 0 {
				loaded[m.Name] = true
			}
		}
	}
	var out []ipc.ModelInfo
	for _, mf := range d.reg.List() {
		info := ipc.ModelInfo{Name: mf.Name, Path: mf.Path, Size: mf.Size, Loaded: loaded[mf.Name],
			Arch: mf.Arch, ContextLength: mf.ContextLength, Parameters: mf.Parameters, Types: mf.Types}
		if mf.Refused != nil {
			info.Refused = mf.Refused.Error()
		}
		for _, c := range capabilities(mf.Arch) {
			info.Capabilities = append(info.Capabilities, string(c))
		}
		out = append(out, info)
	}
	return out, nil
}

// poolFor returns the pool serving model name's capability.
func (d *service) poolFor(name string) (interface {
	Load(context.Context, string) error
	Unload(context.Context, string) error
}, error) {
	if err := CheckName(name); err != nil {
		return nil, protocolError(err)
	}
	mf, err := d.reg.Lookup(name)
	if err != nil {
		return nil, protocolError(err)
	}
	if mf.Refused != nil {
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, mf.Refused)
	}
	// A model loads into the pool of its first capability (decoders that
	// also embed load as generators).
	switch caps := capabilities(mf.Arch); {
	case len(caps) == 0:
	case caps[0] == model.Generate:
		return d.text, nil
	case caps[0] == model.Embed:
		return d.embed, nil
	}
	return nil, ipc.Errorf(ipc.CodeWrongModel, "model %q has architecture %q, which vkinfer does not run", name, mf.Arch)
}

// Load implements ipc.Handler.
func (d *service) Load(ctx context.Context, req *ipc.Request) error {
	p, err := d.poolFor(req.Model)
	if err != nil {
		return err
	}
	return protocolError(p.Load(keepAlive(ctx, req), req.Model))
}

// Unload implements ipc.Handler.
func (d *service) Unload(ctx context.Context, req *ipc.Request) error {
	p, err := d.poolFor(req.Model)
	if err != nil {
		return err
	}
	return protocolError(p.Unload(ctx, req.Model))
}

// Status implements ipc.Handler.
func (d *service) Status(ctx context.Context) (*ipc.Status, error) {
	snap := d.metrics.Snapshot()
	st := &ipc.Status{
		Server:  serverName,
		Uptime:  time.Since(d.started),
		Device:  d.backend.Device(),
		Backend: d.backend.Name(),
		Counters: map[string]uint64{
			"requests":         snap.Total.Requests,
			"errors":           snap.Total.Errors,
			"cancelled":        snap.Total.Cancelled,
			"prompt_tokens":    snap.Total.PromptTokens,
			"cached_tokens":    snap.Total.CachedTokens,
			"generated_tokens": snap.Total.GeneratedTokens,
			"goroutines":       uint64(runtime.NumGoroutine()),
		},
	}
	text := d.text.Status()
	for _, ps := range []pool.Status{text, d.embed.Status()} {
		p := ipc.PoolStatus{Capability: ps.Capability}
		for _, m := range ps.Models {
			ms := ipc.ModelStatus{
				Name: m.Name, Backend: m.Backend, Device: m.Device, Memory: m.Memory,
				Workers: len(m.Workers), Queued: m.Queued, Running: m.Running, LastUse: m.LastUse,
				Breaker: m.Breaker.State, LastErr: m.Breaker.LastError, RetryAt: m.Breaker.RetryAt,
				Requests: snap.Models[m.Name].Requests,
			}
			if ps.Capability == text.Capability {
				ms.KVCache = d.files.cacheStatus(m.Name)
			}
			p.Models = append(p.Models, ms)
		}
		st.Pools = append(st.Pools, p)
		if len(st.Memory) == 0 {
			for _, mem := range ps.Memory {
				st.Memory = append(st.Memory, ipc.MemoryUse{Device: mem.Device, Used: mem.Used, Limit: mem.Limit})
			}
		}
	}
	return st, nil
}

// wireLogprobs converts the engine's logprobs to the protocol's; nil
// stays nil, so chunks without logprobs carry no field.
func wireLogprobs(lps []engine.TokenLogprob) []ipc.TokenLogprob {
	if lps == nil {
		return nil
	}
	conv := func(l engine.TopLogprob) ipc.TopLogprob {
		return ipc.TopLogprob{ID: l.ID, Token: strings.ToValidUTF8(l.Token, "\uFFFD"), Bytes: []byte(l.Token), Logprob: l.Logprob}
	}
	out := make([]ipc.TokenLogprob, len(lps))
	for i, lp := range lps {
		out[i] = ipc.TokenLogprob{TopLogprob: conv(lp.TopLogprob), TopLogprobs: make([]ipc.TopLogprob, len(lp.Top))}
		for j, a := range lp.Top {
			out[i].TopLogprobs[j] = conv(a)
		}
	}
	return out
}
