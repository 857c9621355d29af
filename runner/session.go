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
}

// Session is one sequence generated on an executor. It implements
// model.Session and is not safe for concurrent use.
type Session struct {
	cfg    Config
	exec   compute.Executor
	graphs map[compute.BatchShape]*compute.Graph
	batch  compute.Batch
	logits []float32
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
	s := &Session{cfg: cfg, graphs: map[compute.BatchShape]*compute.Graph{}}
	g, err := s.graph(compute.BatchShape{Tokens: 1, Outputs: 1})
	if err != nil {
		return nil, err
	}
	if s.exec, err = newExec(g.Cache, cfg.Context); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return s, nil
}

// graph returns the graph for shape, building it on first use.
func (s *Session) graph(shape compute.BatchShape) (*compute.Graph, error) {
	if g, ok := s.graphs[shape]; ok {
		return g, nil
	}
	b := compute.NewBuilder(s.cfg.File, shape)
	g, err := b.Finish(s.cfg.Build(b))
	if err != nil {
		return nil, fmt.Errorf("runner: building the graph: %w", err)
	}
	s.graphs[shape] = g
	return g, nil
}

// ContextSize implements model.Session.
func (s *Session) ContextSize() int { return s.cfg.Context }

// Eval implements model.Session: tokens at positions pos, pos+1, ... go
// through the graph MaxBatch at a time; the last token's result is kept.
func (s *Session) Eval(tokens []int32, pos int) error {
	if pos < 0 || pos+len(tokens) > s.cfg.Context {
		return fmt.Errorf("runner: %d tokens at position %d do not fit a context of %d: %w", len(tokens), pos, s.cfg.Context, model.ErrContextFull)
	}
	s.logits = nil
	for len(tokens) > 0 {
		n := min(len(tokens), s.cfg.MaxBatch)
		out, err := s.step(tokens[:n], pos)
		if err != nil {
			return err
		}
		s.logits = out
		tokens, pos = tokens[n:], pos+n
	}
	return nil
}

// step runs one batch whose last token wants its result.
func (s *Session) step(tokens []int32, pos int) ([]float32, error) {
	b := &s.batch
	b.Tokens = tokens
	b.Pos = b.Pos[:0]
	for i := range tokens {
		b.Pos = append(b.Pos, int32(pos+i))
	}
	if err := b.Check(s.cfg.Vocab, s.cfg.Context); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	g, err := s.graph(b.Shape())
	if err != nil {
		return nil, err
	}
	out, err := s.exec.Run(g, b)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return out, nil
}

// Logits implements model.Session.
func (s *Session) Logits() ([]float32, error) {
	if s.logits == nil {
		return nil, errors.New("runner: logits requested before any Eval")
	}
	return s.logits, nil
}

// Sample implements model.Session.
func (s *Session) Sample(smp *sampling.Sampler) (int32, error) {
	l, err := s.Logits()
	if err != nil {
		return 0, err
	}
	return smp.Sample(l), nil
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
