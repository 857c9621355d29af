package llama

import (
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk/ops"
)

var (
	kernelsOnce sync.Once
	kernelsOn   *ops.Kernels
)

// testKernels returns kernels on the test device, shared by the package's
// tests (pipelines are built once).
func testKernels(t testing.TB) *ops.Kernels {
	t.Helper()
	d := vktest.Device(t)
	kernelsOnce.Do(func() { kernelsOn = ops.New(d) })
	return kernelsOn
}
