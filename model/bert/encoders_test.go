package bert

import (
	"testing"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/internal/opstest"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// newEncoder returns an encoder of m's graph on the executors newExec
// makes, for passes of up to tokens tokens, closed when the test ends.
func newEncoder(t testing.TB, m *Model, tokens int, newExec runner.NewExecutor) *runner.Encoder {
	t.Helper()
	enc, err := runner.NewEncoder(runner.Config{File: m.File, Build: m.Build, Vocab: m.Config.Vocab, Context: tokens}, newExec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

// cpuEncoder runs m's graph on backend/cpu.
func cpuEncoder(t testing.TB, m *Model, tokens int) *runner.Encoder {
	t.Helper()
	return newEncoder(t, m, tokens, func(c compute.CacheShape, cells int) (compute.Executor, error) {
		return cpu.New(c, cells)
	})
}

// refEncoder runs m's graph on compute.Reference, the plain-Go oracle.
func refEncoder(t testing.TB, m *Model, tokens int) *runner.Encoder {
	t.Helper()
	return newEncoder(t, m, tokens, func(c compute.CacheShape, cells int) (compute.Executor, error) {
		return compute.NewReference(c, cells), nil
	})
}

// vulkanEncoder runs m's graph on backend/vulkan, on the test device (k
// nil) or on k's, with weights of its own.
func vulkanEncoder(t testing.TB, m *Model, tokens int, k *ops.Kernels) *runner.Encoder {
	t.Helper()
	if k == nil {
		k = opstest.Kernels(t)
	}
	w := vulkan.NewWeights(k)
	t.Cleanup(w.Close) // after the encoder's Close, which is registered later
	return newEncoder(t, m, tokens, w.NewExecutor)
}

// executor is a way to run a model's graph, for tests over every backend.
type executor struct {
	name string
	open func(t testing.TB, m *Model, tokens int) *runner.Encoder
}

var executors = []executor{
	{"reference", refEncoder},
	{"cpu", cpuEncoder},
	{"vulkan", func(t testing.TB, m *Model, tokens int) *runner.Encoder { return vulkanEncoder(t, m, tokens, nil) }},
}
