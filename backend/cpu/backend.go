package cpu

import (
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/runner"
)

// Backend is the CPU as a runner.Backend: weights stay in the file's
// mapping, where the kernels read them, except the matrices of the types
// the GEMM kernels take, which are repacked on first use (packs).
type Backend struct{}

// Load implements runner.Backend.
func (Backend) Load(f *gguf.File) (runner.Weights, error) { return &weights{packs: newPacks(f)}, nil }

// MaxBatch implements runner.Backend: a prompt's matmuls read each weight
// tile once for the whole batch, so larger steps only help.
func (Backend) MaxBatch() int { return 512 }

type weights struct{ packs *packs }

func (w *weights) NewExecutor(c compute.CacheShape, cells int) (compute.Executor, error) {
	e, err := New(c, cells)
	if err != nil {
		return nil, err
	}
	e.packs = w.packs
	return e, nil
}

func (w *weights) Close() { w.packs.close() }
