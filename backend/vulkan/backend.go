package vulkan

import (
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// Backend is a Vulkan device as a runner.Backend.
type Backend struct{ K *ops.Kernels }

// Load implements runner.Backend: tensors go to the device as the first
// graph that reads them is bound (Weights.Upload puts a graph's up front).
func (b Backend) Load(*gguf.File) (runner.Weights, error) { return NewWeights(b.K), nil }

// MaxBatch implements runner.Backend: 128 tokens a step, where a
// prompt's matrix products keep every workgroup busy.
func (Backend) MaxBatch() int { return 128 }
