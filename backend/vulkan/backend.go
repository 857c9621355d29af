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
// prompt's matvecs keep every workgroup busy without the attention
// scratch (tokens × heads × context) growing past what binds at once.
func (Backend) MaxBatch() int { return 128 }
