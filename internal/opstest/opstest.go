// Package opstest gives a test binary one set of Vulkan kernels on
// vktest's device, so that their pipelines are built once however many
// tests use them. (vktest cannot hold it: vk/ops's own tests import
// vktest.)
package opstest

import (
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk/ops"
)

var (
	once    sync.Once
	kernels *ops.Kernels
)

// Kernels returns the process-wide kernels on vktest.Device, failing the
// test under CI and skipping it elsewhere when there is no device.
func Kernels(t testing.TB) *ops.Kernels {
	t.Helper()
	d := vktest.Device(t)
	once.Do(func() { kernels = ops.New(d) })
	return kernels
}
