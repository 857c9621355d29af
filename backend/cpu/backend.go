package cpu

import (
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/runner"
)

// Backend is the CPU as a runner.Backend: weights stay in the file's
// mapping, where the kernels read them.
type Backend struct{}

// Load implements runner.Backend.
func (Backend) Load(*gguf.File) (runner.Weights, error) { return weights{}, nil }

// MaxBatch implements runner.Backend: a prompt's matmuls read each weight
// tile once for the whole batch, so larger steps only help.
func (Backend) MaxBatch() int { return 512 }

type weights struct{}

func (weights) NewExecutor(c compute.CacheShape, cells int) (compute.Executor, error) {
	return New(c, cells)
}
func (weights) Close() {}
