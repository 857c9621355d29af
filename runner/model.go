package runner

import (
	"fmt"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

// Backend prepares models for the executors of one device: the CPU
// kernels (backend/cpu) or a Vulkan device (backend/vulkan).
type Backend interface {
	// Load prepares f's weights (an upload to the device, or nothing).
	Load(f *gguf.File) (Weights, error)
	// MaxBatch is the most tokens one step takes on this backend.
	MaxBatch() int
}

// Weights are a model's weights on a backend, shared by its sessions.
type Weights interface {
	NewExecutor(cache compute.CacheShape, cells int) (compute.Executor, error)
	Close()
}

// Model is a model file opened through its registered architecture for
// a backend; the daemon and the tools open models this way.
type Model struct {
	File   *gguf.File
	Arch   *model.Arch
	Loaded model.Loaded
	// KVType is the KV cache type of the model's generation sessions
	// (Config.KVType; "" is f16).
	KVType string
	// FlashAttention has its generation sessions attend flash
	// (Config.FlashAttention).
	FlashAttention bool
	weights        Weights
	batch          int
}

// Open loads f's model (refusing what its architecture does not
// implement) and prepares its weights on be.
func Open(f *gguf.File, be Backend) (*Model, error) {
	a, m, err := model.Open(f)
	if err != nil {
		return nil, err
	}
	w, err := be.Load(f)
	if err != nil {
		return nil, fmt.Errorf("runner: weights of %s: %w", f.Name, err)
	}
	// A backend that lacks an op the model needs refuses it here, by the
	// op's name, not at its first step.
	if s, ok := w.(interface{ Supports(*compute.Graph) error }); ok {
		b := compute.NewBuilder(f, compute.BatchShape{Tokens: 1, Outputs: 1})
		g, err := b.Finish(m.Build(b))
		if err == nil {
			err = s.Supports(g)
		}
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("runner: %w", err)
		}
	}
	return &Model{File: f, Arch: a, Loaded: m, weights: w, batch: be.MaxBatch()}, nil
}

// Close frees the weights; the model's sessions must be closed first.
func (m *Model) Close() { m.weights.Close() }

// NewSession returns a generation session with a context of ctx
// positions.
func (m *Model) NewSession(ctx int) (*Session, error) {
	if !m.Arch.Serves(model.Generate) {
		return nil, fmt.Errorf("runner: %v models do not generate", m.Arch.Names)
	}
	return New(Config{File: m.File, Build: m.Loaded.Build, Vocab: m.Loaded.Vocab(), Context: ctx, MaxBatch: m.batch, KVType: m.KVType,
		FlashAttention: m.FlashAttention}, m.weights.NewExecutor)
}

// NewBatcher returns a batcher of the model's generation graph whose
// sequences have contexts of ctx positions, over a KV cache of cells
// cells that grows up to maxCells.
func (m *Model) NewBatcher(ctx, cells, maxCells int) (*Batcher, error) {
	if !m.Arch.Serves(model.Generate) {
		return nil, fmt.Errorf("runner: %v models do not generate", m.Arch.Names)
	}
	return NewBatcher(BatcherConfig{File: m.File, Build: m.Loaded.Build, Vocab: m.Loaded.Vocab(), Context: ctx,
		Cells: cells, MaxCells: maxCells, MaxBatch: m.batch, KVType: m.KVType, FlashAttention: m.FlashAttention},
		m.weights.NewExecutor)
}

// NewEncoder returns an encoder of the model's embedding graph for
// passes of up to tokens tokens.
func (m *Model) NewEncoder(tokens int) (*Encoder, model.TextEmbedder, error) {
	te, ok := m.Loaded.(model.TextEmbedder)
	if !ok || !m.Arch.Serves(model.Embed) {
		return nil, nil, fmt.Errorf("runner: %v models do not embed", m.Arch.Names)
	}
	enc, err := NewEncoder(Config{File: m.File, Build: te.BuildEmbedding, Vocab: m.Loaded.Vocab(), Context: tokens},
		m.weights.NewExecutor)
	if err != nil {
		return nil, nil, err
	}
	return enc, te, nil
}
