package runner

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/sampling"
)

// Graph builds an architecture's graph for the builder's batch shape and
// returns its result: logits, or hidden states, of the output tokens.
type Graph func(b *compute.Builder) compute.Tensor

// NewExecutor returns an executor whose KV cache has the given shape and
// cells positions.
type NewExecutor func(cache compute.CacheShape, cells int) (compute.Executor, error)

// Config describes the model a session runs.
type Config struct {
	File  *gguf.File
	Build Graph
	// Vocab is the number of token ids; Context the cells of the KV cache.
	Vocab, Context int
	// MaxBatch bounds the tokens of one executor step; a longer Eval runs
	// in several (0 means 512).
	MaxBatch int
	// KVType names the KV cache type (compute.KVTypes) of a model whose
	// graph keeps an f16 cache (decoders); "" keeps the graph's own.
	KVType string
	// FlashAttention has such a model attend with flash attention's
	// arithmetic (compute.CacheShape.Flash).
	FlashAttention bool
}

// Session is one sequence generated on an executor. It implements
// model.Session and is not safe for concurrent use.
//
// Eval runs all but the last batch of its tokens at once and keeps the
// last pending, so that Sample can run it together with the draw on an
// executor that samples on its device (compute.SamplingExecutor): one
// step per token, returning an id rather than the logits. Logits, or the
// next Eval, runs it otherwise.
type Session struct {
	cfg    Config
	exec   compute.Executor
	graphs *graphs
	batch  compute.Batch
	logits []float32

	pending bool // batch holds a step not yet run
	posBuf  []int32
}

// New builds the graph of a one-token batch to learn the KV cache's shape
// and opens an executor with it.
func New(cfg Config, newExec NewExecutor) (*Session, error) {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Context <= 0 || cfg.Vocab <= 0 {
		return nil, fmt.Errorf("runner: context %d and vocabulary %d must be > 0", cfg.Context, cfg.Vocab)
	}
	s := &Session{cfg: cfg, graphs: newGraphs(cfg.File, cfg.Build, sessionGraphs)}
	g, err := s.graphs.get(compute.BatchShape{Tokens: 1, Outputs: 1})
	if err != nil {
		return nil, err
	}
	cache, err := cacheOf(g, cfg.KVType, cfg.FlashAttention)
	if err != nil {
		return nil, err
	}
	if s.exec, err = newExec(cache, cfg.Context); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	s.graphs.exec = s.exec
	return s, nil
}

// cacheOf returns the KV cache shape g needs, stored as kvType (a
// compute.KVTypes name) and attended flash when g keeps an f16 cache
// (decoders; encoders keep theirs in f32, as llama.cpp computes their
// attention); "" keeps g's own type.
func cacheOf(g *compute.Graph, kvType string, flash bool) (compute.CacheShape, error) {
	cache := g.Cache
	if cache.Type == gguf.TypeF16 {
		cache.Flash = flash
	}
	if kvType != "" && cache.Type == gguf.TypeF16 {
		var err error
		if cache.Type, err = compute.ParseKVType(kvType); err != nil {
			return cache, fmt.Errorf("runner: %w", err)
		}
	}
	if err := cache.Check(); err != nil {
		return cache, fmt.Errorf("runner: %w", err)
	}
	return cache, nil
}

// sessionGraphs bounds the graphs a session keeps: decode steps reuse
// one shape, prompts of each length bring their own.
const sessionGraphs = 8

// Executor returns the executor the session runs on (for what a backend
// offers beyond compute.Executor, such as a device's profile).
func (s *Session) Executor() compute.Executor { return s.exec }

// ContextSize implements model.Session.
func (s *Session) ContextSize() int { return s.cfg.Context }

// Eval implements model.Session: tokens at positions pos, pos+1, ... go
// through the graph MaxBatch at a time; the last token's result is kept.
func (s *Session) Eval(tokens []int32, pos int) error {
	if pos < 0 || pos+len(tokens) > s.cfg.Context {
		return fmt.Errorf("runner: %d tokens at position %d do not fit a context of %d: %w", len(tokens), pos, s.cfg.Context, model.ErrContextFull)
	}
	// A step still pending from the last Eval goes into the cache first:
	// nobody asked for its result, but these tokens attend to its keys.
	if s.pending {
		s.pending = false
		if _, err := s.run(); err != nil {
			return err
		}
	}
	s.logits = nil
	for len(tokens) > 0 {
		n := min(len(tokens), s.cfg.MaxBatch)
		if err := s.prepare(tokens[:n], pos); err != nil {
			return err
		}
		tokens, pos = tokens[n:], pos+n
		if len(tokens) == 0 {
			s.pending = true
			break
		}
		if _, err := s.run(); err != nil {
			return err
		}
	}
	return nil
}

// prepare sets the batch to tokens at pos, pos+1, ..., the last wanting
// its result.
func (s *Session) prepare(tokens []int32, pos int) error {
	// The batch keeps its own copy: the caller may reuse tokens before a
	// pending step runs.
	b := &s.batch
	b.Tokens = append(b.Tokens[:0], tokens...)
	s.posBuf = s.posBuf[:0]
	for i := range tokens {
		s.posBuf = append(s.posBuf, int32(pos+i))
	}
	b.Pos = s.posBuf
	if err := b.Check(s.cfg.Vocab, s.cfg.Context); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

// run runs the prepared batch and keeps its result.
func (s *Session) run() ([]float32, error) {
	g, err := s.graphs.get(s.batch.Shape())
	if err != nil {
		return nil, err
	}
	out, err := s.exec.Run(g, &s.batch)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	s.logits = out
	return out, nil
}

// Logits implements model.Session.
func (s *Session) Logits() ([]float32, error) {
	if s.pending {
		s.pending = false
		return s.run()
	}
	if s.logits == nil {
		return nil, errors.New("runner: logits requested before any Eval")
	}
	return s.logits, nil
}

// Sample implements model.Session: with a pending step on a sampling
// executor, the forward pass and the draw run as one step (a grammar's
// mask is uploaded with it). A draw with logprobs reads the logits back
// in that step instead and samples on the CPU, since logprobs need them.
func (s *Session) Sample(smp *sampling.Sampler) (int32, error) {
	if se, ok := s.exec.(compute.SamplingExecutor); ok && s.pending && !smp.NeedsLogits() {
		s.pending = false
		g, err := s.graphs.get(s.batch.Shape())
		if err != nil {
			return 0, err
		}
		ids, logits, err := se.RunSample(g, &s.batch, []*sampling.Sampler{smp})
		if err != nil {
			return 0, fmt.Errorf("runner: %w", err)
		}
		if ids[0] >= 0 {
			return ids[0], nil
		}
		s.logits = logits // a row the executor left to the CPU draw below
	}
	l, err := s.Logits()
	if err != nil {
		return 0, err
	}
	id := smp.Sample(l)
	if id < 0 {
		return 0, fmt.Errorf("runner: %w", smp.Err())
	}
	return id, nil
}

// Close implements model.Session.
func (s *Session) Close() error {
	s.graphs = nil
	if s.exec == nil {
		return nil
	}
	err := s.exec.Close()
	s.exec = nil
	return err
}
