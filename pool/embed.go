package pool

import (
	"context"
	"fmt"

	"github.com/vkinfer/vkinfer/model"
)

// Embedder is a loaded embedding model instance.
type Embedder interface {
	// Embed returns one vector per text and the tokens each ran as.
	Embed(ctx context.Context, texts []string) (model.Embeddings, error)
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

// Embed returns the embeddings of texts, and their token counts, by
// model name.
func (e *TextEmbedding) Embed(ctx context.Context, name string, texts []string) (model.Embeddings, error) {
	if len(texts) == 0 {
		return model.Embeddings{}, fmt.Errorf("%w: no texts to embed", ErrInvalid)
	}
	var out model.Embeddings
	err := e.Do(ctx, name, func(ctx context.Context, m Embedder) error {
		var err error
		out, err = m.Embed(ctx, texts)
		if err == nil && (len(out.Vectors) != len(texts) || len(out.Tokens) != len(texts)) {
			err = fmt.Errorf("pool: %s returned %d embeddings and %d token counts for %d texts", name, len(out.Vectors), len(out.Tokens), len(texts))
		}
		return err
	})
	if err != nil {
		return model.Embeddings{}, err
	}
	return out, nil
}
