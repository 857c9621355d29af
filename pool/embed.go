package pool

import (
	"context"
	"fmt"
)

// Embedder is a loaded embedding model instance.
type Embedder interface {
	// Embed returns one vector per text.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Close() error
}

// TextEmbedding is the pool of the embedding capability.
type TextEmbedding struct {
	*Pool[Embedder]
}

// NewTextEmbedding returns an embedding pool; cfg.Capability defaults to
// "embedding".
func NewTextEmbedding(loader Loader[Embedder], cfg Config) *TextEmbedding {
	if cfg.Capability == "" {
		cfg.Capability = "embedding"
	}
	return &TextEmbedding{New(loader, cfg)}
}

// Embed returns the embeddings of texts by model name.
func (e *TextEmbedding) Embed(ctx context.Context, name string, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no texts to embed", ErrInvalid)
	}
	var out [][]float32
	err := e.Do(ctx, name, func(ctx context.Context, m Embedder) error {
		var err error
		out, err = m.Embed(ctx, texts)
		if err == nil && len(out) != len(texts) {
			err = fmt.Errorf("pool: %s returned %d embeddings for %d texts", name, len(out), len(texts))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
