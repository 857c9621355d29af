package runner

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
)

// Encoder runs an encoder's graph (every token's hidden state) over
// several sequences packed into one batch, each in its own cells of the
// executor's cache. It is not safe for concurrent use.
type Encoder struct {
	s     *Session // its graphs and executor
	batch compute.Batch
}

// NewEncoder opens an executor for passes of up to cfg.Context tokens in
// all (the cache holds every sequence of a pass).
func NewEncoder(cfg Config, newExec NewExecutor) (*Encoder, error) {
	s, err := New(cfg, newExec)
	if err != nil {
		return nil, err
	}
	return &Encoder{s: s}, nil
}

// MaxTokens bounds the tokens of one Forward.
func (e *Encoder) MaxTokens() int { return e.s.cfg.Context }

// Forward runs seqs as one batch and returns every token's result row,
// packed, and start: sequence s has rows start[s] to start[s+1].
func (e *Encoder) Forward(seqs [][]int32) (hidden []float32, start []int, err error) {
	b := &e.batch
	*b = compute.Batch{Tokens: b.Tokens[:0], Pos: b.Pos[:0], Seq: b.Seq[:0], Base: b.Base[:0], Output: b.Output[:0]}
	start = make([]int, len(seqs)+1)
	for s, ids := range seqs {
		start[s+1] = start[s] + len(ids)
		b.Base = append(b.Base, int32(start[s]))
		for p, id := range ids {
			b.Tokens = append(b.Tokens, id)
			b.Pos = append(b.Pos, int32(p))
			b.Seq = append(b.Seq, int32(s))
			b.Output = append(b.Output, true)
		}
	}
	if err := b.Check(e.s.cfg.Vocab, e.s.cfg.Context); err != nil {
		return nil, nil, fmt.Errorf("runner: %w", err)
	}
	g, err := e.s.graphs.get(b.Shape())
	if err != nil {
		return nil, nil, err
	}
	out, err := e.s.exec.Run(g, b)
	if err != nil {
		return nil, nil, fmt.Errorf("runner: %w", err)
	}
	return out, start, nil
}

// Close frees the executor.
func (e *Encoder) Close() error { return e.s.Close() }
