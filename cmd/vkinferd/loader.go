package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/engine/chat"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/model"
	_ "github.com/vkinfer/vkinfer/model/bert"      // registers bert
	_ "github.com/vkinfer/vkinfer/model/gemma"     // registers gemma
	_ "github.com/vkinfer/vkinfer/model/gemma2"    // registers gemma2
	_ "github.com/vkinfer/vkinfer/model/llama"     // registers the llama family
	_ "github.com/vkinfer/vkinfer/model/nomicbert" // registers nomic-bert
	_ "github.com/vkinfer/vkinfer/model/phi3"      // registers phi3
	"github.com/vkinfer/vkinfer/model/tokenizer"
	"github.com/vkinfer/vkinfer/pool"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk"
)

// capabilities returns what a model of arch serves: its registered
// architecture's capabilities, none for an architecture vkinfer does not
// run.
func capabilities(arch string) []model.Capability {
	if a, ok := model.Lookup(arch); ok {
		return a.Capabilities
	}
	return nil
}

// vet loads f's model as its registered architecture would, without
// keeping it, and returns why it cannot run (nil for an architecture
// vkinfer does not run: capabilities says so).
func vet(f *gguf.File, arch string) error {
	a, ok := model.Lookup(arch)
	if !ok {
		return nil
	}
	_, err := a.Load(f)
	return err
}

// openFile is one mapped GGUF file shared by the instances of a model:
// the model loaded through its architecture, with its weights on the
// backend (uploaded once for all the model's workers), and its tokenizer.
type openFile struct {
	f    *gguf.File
	tok  *tokenizer.Tokenizer
	m    *runner.Model
	refs int
	// batcher runs the generation workers' sequences in shared steps
	// over one paged KV cache; the first generation instance starts it.
	batcher *runner.Batcher
}

// files opens each model file once and shares it between the workers of
// both pools; the last release unmaps it.
type files struct {
	reg     *Registry
	backend *backend
	kvType  string // of generation sessions' KV caches (--kv-type)
	flash   bool   // generation attends flash (--flash-attn)
	mu      sync.Mutex
	m       map[string]*openFile
}

// peek opens a model's header to read its architecture, checking it offers
// capability want.
func (fs *files) peek(name string, want model.Capability) (*gguf.File, error) {
	mf, err := fs.reg.Lookup(name)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeUnknownModel, "%v", err)
	}
	f, err := gguf.Open(mf.Path)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	arch, _ := f.String("general.architecture")
	a, ok := model.Lookup(arch)
	switch {
	case !ok:
		f.Close()
		return nil, ipc.Errorf(ipc.CodeWrongModel, "model %q has architecture %q, which vkinfer does not run", name, arch)
	case !a.Serves(want):
		f.Close()
		return nil, ipc.Errorf(ipc.CodeWrongModel, "model %q (%s) serves %v requests, not %s", name, arch, a.Capabilities, want)
	}
	return f, nil
}

// acquire returns the model's open file, opening it unless it is open
// already and still the file on disk; a stale one stays with the
// instances holding it until they close.
func (fs *files) acquire(name string, want model.Capability) (*openFile, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if of, ok := fs.m[name]; ok {
		if of.f.Stale() == nil {
			of.refs++
			return of, nil
		}
		delete(fs.m, name)
	}
	f, err := fs.peek(name, want)
	if err != nil {
		return nil, err
	}
	of := &openFile{f: f, refs: 1}
	fail := func(err error) (*openFile, error) {
		f.Close()
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	if of.tok, err = tokenizer.FromGGUF(f); err != nil {
		return fail(err)
	}
	if of.m, err = runner.Open(f, fs.backend.runner()); err != nil {
		return fail(err)
	}
	of.m.KVType, of.m.FlashAttention = fs.kvType, fs.flash
	fs.m[name] = of
	return of, nil
}

// release drops one instance's hold on of, closing it with the last.
func (fs *files) release(name string, of *openFile) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if of.refs--; of.refs > 0 {
		return
	}
	if of.batcher != nil {
		of.batcher.Close()
	}
	of.m.Close()
	of.f.Close()
	if fs.m[name] == of {
		delete(fs.m, name)
	}
}

// textLoader opens generation instances: a session with its own KV cache
// over the shared weights, driven by an engine.
type textLoader struct {
	files   *files
	cfg     Config
	metrics *engine.Metrics
	log     *slog.Logger
}

func (l *textLoader) Need(name string) (pool.Need, error) {
	return l.files.need(name, model.Generate, l.cfg)
}

// need is the memory an instance of model name needs for capability c,
// as its architecture reckons it: weights, a KV cache (of --kv-type for
// generation, f32 for an encoder) and scratch for the session or encoder
// Open makes.
func (fs *files) need(name string, c model.Capability, cfg Config) (pool.Need, error) {
	f, err := fs.peek(name, c)
	if err != nil {
		return pool.Need{}, err
	}
	defer f.Close()
	a, m, err := model.Open(f)
	if err != nil {
		return pool.Need{}, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	be := fs.backend
	if c == model.Embed {
		// An encoder's cache and scratch hold one pass of embedPassTokens.
		ctx := embedTokens(a, m, cfg)
		mem := m.Memory(ctx, ctx, 4)
		return pool.Need{Backend: be.Kind(), Device: be.Device(), Weights: mem.Weights, KVCache: mem.KVCache, Scratch: mem.Scratch}, nil
	}
	// The generation workers share one batcher: its KV cache, at the most
	// it grows to, and its scratch are charged once with the weights; a
	// worker adds the logits row its sequence keeps.
	ctx := min(cfg.ContextSize, m.ContextLength())
	mem := m.Memory(kvCells(cfg, ctx), cfg.BatchSize, 4)
	mem.KVCache = kvCacheBytes(mem.KVCache, fs.kvType)
	return pool.Need{Backend: be.Kind(), Device: be.Device(), Weights: mem.Weights + mem.KVCache + mem.Scratch,
		Scratch: 4 * uint64(m.Vocab())}, nil
}

// sequence returns a new sequence on of's batcher, starting the batcher
// with the first: a cache of one context that grows to kvCells(cfg).
func (fs *files) sequence(of *openFile, cfg Config) (*runner.Sequence, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if of.batcher == nil {
		ctx := min(cfg.ContextSize, of.m.Loaded.ContextLength())
		b, err := of.m.NewBatcher(ctx, ctx, kvCells(cfg, ctx))
		if err != nil {
			return nil, err
		}
		of.batcher = b
	}
	return of.batcher.NewSequence(), nil
}

// cacheStatus returns the KV cache use of model name's batcher, nil when
// the model has none running.
func (fs *files) cacheStatus(name string) *ipc.KVCacheStatus {
	fs.mu.Lock()
	of := fs.m[name]
	fs.mu.Unlock()
	if of == nil || of.batcher == nil {
		return nil
	}
	st := of.batcher.Status()
	return &ipc.KVCacheStatus{Used: st.Used, Cached: st.Cached, Free: st.Free, Sequences: st.Sequences, Steps: st.Steps}
}

// kvCells is the most cells a model's KV cache grows to: the configured
// kv_cells, or room for every worker's sequence at the full context.
func kvCells(cfg Config, ctx int) int {
	if cfg.KVCells > 0 {
		return max(cfg.KVCells, ctx)
	}
	return ctx * cfg.Parallel
}

// kvCacheBytes scales f32 bytes of a KV cache to the bytes of type name:
// 2 a value for f16, 34 per 32 for q8_0 (rows whole blocks, or the
// session refuses the type).
func kvCacheBytes(f32 uint64, name string) uint64 {
	switch t, _ := compute.ParseKVType(name); t {
	case gguf.TypeF16:
		return f32 / 2
	case gguf.TypeQ8_0:
		return f32 / 4 / 32 * 34
	}
	return f32
}

func (l *textLoader) Open(ctx context.Context, name string) (pool.Generator, error) {
	of, err := l.files.acquire(name, model.Generate)
	if err != nil {
		return nil, err
	}
	sess, err := l.files.sequence(of, l.cfg)
	if err != nil {
		l.files.release(name, of)
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	eng := engine.New(sess, engineTokenizer{of.tok}, engine.Options{
		Name:         name,
		ChatTemplate: chat.SourceOf(of.f),
		ChatTokens:   chat.TokensOf(of.tok),
		BatchSize:    l.cfg.BatchSize,
		Metrics:      l.metrics,
	})
	if tmpl, err := eng.Template(); err == nil && tmpl.Fallback() != nil && l.log != nil {
		l.log.Warn("chat template replaced by its hand-written family", "model", name, "family", tmpl.Name(), "err", tmpl.Fallback())
	}
	g := &generator{Engine: eng, file: of.f, release: func() { l.files.release(name, of) }}
	if p, ok := of.batcher.Executor().(interface{ TakeProfile() []vk.OpTime }); ok && l.files.backend.dev.Profiling() {
		g.profile = func() { logProfile(l.log, name, p.TakeProfile()) }
	}
	return g, nil
}

// logProfile logs the GPU time per op of one request (VKINFER_PROFILE=1).
func logProfile(log *slog.Logger, model string, ops []vk.OpTime) {
	if log == nil || len(ops) == 0 {
		return
	}
	var total time.Duration
	args := []any{"model", model}
	for _, op := range ops {
		total += op.Time
		args = append(args, op.Op, fmt.Sprintf("%v/%d", op.Time.Round(time.Microsecond), op.Calls))
	}
	args = append(args, "gpu_total", total.Round(time.Microsecond))
	log.Info("vulkan profile (GPU time/dispatches per op)", args...)
}

// generator is a pool instance: an engine that releases the shared model
// file when closed.
type generator struct {
	*engine.Engine
	file    *gguf.File
	release func()
	profile func() // logs the request's GPU op times, when profiling
}

// Stale implements pool.Staler: a model file changed on disk is reloaded
// before the next request rather than read through a mapping that now
// shows other bytes.
func (g *generator) Stale() error { return g.file.Stale() }

// Generate runs the engine with memory faults turned into panics: weights
// are read from the file mapping, and a model file truncated on disk while
// loaded must fail its requests (the pool recovers worker panics), not
// crash the daemon with SIGBUS.
func (g *generator) Generate(ctx context.Context, req engine.Request, emit func(engine.Chunk) error) (engine.Result, error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer explainFault(g.file.Name)
	if g.profile != nil {
		defer g.profile()
	}
	return g.Engine.Generate(ctx, req, emit)
}

// explainFault re-panics a memory fault with its likely cause, so the
// pool's error (and the worker it replaces) says what happened.
func explainFault(path string) {
	r := recover()
	if r == nil {
		return
	}
	if fault, ok := r.(interface{ Addr() uintptr }); ok {
		panic(fmt.Sprintf("reading the weights mapped from %s faulted at %#x: the file was changed or truncated on disk while loaded", path, fault.Addr()))
	}
	panic(r)
}

func (g *generator) Close() error {
	err := g.Engine.Close()
	g.release()
	return err
}

// engineTokenizer adapts the tokenizer to what the engine asks for.
type engineTokenizer struct{ *tokenizer.Tokenizer }

func (t engineTokenizer) NewDecoder() engine.Decoder { return t.NewStreamDecoder() }

// embedLoader opens embedding instances over the shared encoder, or over
// a decoder's weights with a session of its own.
type embedLoader struct {
	files *files
	cfg   Config
}

// optionEmbedder is what the embed op calls on a pool instance.
type optionEmbedder interface {
	embedWith(ctx context.Context, texts []string, opts model.EmbedOptions) (model.Embeddings, error)
}

func (l *embedLoader) Need(name string) (pool.Need, error) {
	return l.files.need(name, model.Embed, l.cfg)
}

func (l *embedLoader) Open(ctx context.Context, name string) (pool.Embedder, error) {
	of, err := l.files.acquire(name, model.Embed)
	if err != nil {
		return nil, err
	}
	enc, te, err := of.m.NewEncoder(embedTokens(of.m.Arch, of.m.Loaded, l.cfg))
	if err != nil {
		l.files.release(name, of)
		return nil, ipc.Errorf(ipc.CodeUnavailable, "model %q: %v", name, err)
	}
	return &embedder{enc: enc, m: te, tok: of.tok, file: of.f, release: func() { l.files.release(name, of) }}, nil
}

// embedPassTokens bounds the tokens of one encoder pass, and so its cache
// and scratch; a larger batch of texts runs in several passes.
const embedPassTokens = 4096

// embedTokens is the size of an embedding instance's passes: an encoder
// packs several texts into embedPassTokens; a decoder embeds one text a
// pass, which its context bounds.
func embedTokens(a *model.Arch, m model.Loaded, cfg Config) int {
	if a.Serves(model.Generate) {
		return min(cfg.ContextSize, m.ContextLength())
	}
	return embedPassTokens
}

// embedder is a pool instance of a model that embeds: its embedding graph
// on an encoder of its own, pooled as the model says.
type embedder struct {
	enc     *runner.Encoder
	m       model.TextEmbedder
	tok     *tokenizer.Tokenizer
	file    *gguf.File
	release func()
}

// Stale implements pool.Staler (see generator.Stale).
func (e *embedder) Stale() error { return e.file.Stale() }

func (e *embedder) Embed(ctx context.Context, texts []string) (model.Embeddings, error) {
	return e.embedWith(ctx, texts, model.EmbedOptions{})
}

func (e *embedder) embedWith(ctx context.Context, texts []string, opts model.EmbedOptions) (model.Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return model.Embeddings{}, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see generator.Generate
	defer explainFault(e.file.Name)
	out, err := e.m.EmbedTexts(e.enc, e.tok, texts, opts)
	switch {
	case errors.Is(err, model.ErrTooLong):
		return model.Embeddings{}, ipc.Errorf(ipc.CodeContextFull, "%v (set truncate to cut inputs to the context)", err)
	case err != nil:
		return model.Embeddings{}, ipc.Errorf(ipc.CodeBadRequest, "%v", err)
	}
	return out, nil
}

func (e *embedder) Close() error {
	err := e.enc.Close()
	e.release()
	return err
}
