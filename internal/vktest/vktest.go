// Package vktest opens the Vulkan device tests run on: any usable device,
// a CPU one (Mesa's lavapipe) included. Under CI (CI=true) a missing
// device fails the test, because CI installs lavapipe and the Vulkan
// suite must run there; elsewhere it skips.
package vktest

import (
	"os"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer/vk"
)

var (
	once   sync.Once
	shared *vk.Device
	err    error
)

// Device returns a process-wide device for tests; it is never closed.
func Device(t testing.TB) *vk.Device {
	t.Helper()
	once.Do(func() {
		opts := vk.DefaultOptions()
		opts.AllowCPU = true
		shared, err = vk.Open(opts)
	})
	if err != nil {
		Unavailable(t, err)
	}
	return shared
}

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("no Vulkan device in CI (install mesa-vulkan-drivers and libvulkan1): %v", err)
	}
	t.Skipf("no Vulkan device: %v", err)
}

// StagingDevice opens a second handle on the test device that refuses to
// map device memory, so tests take the paths of discrete GPUs (staging,
// copies to host-visible buffers). It is closed when the test ends.
func StagingDevice(t testing.TB) *vk.Device {
	t.Helper()
	return second(t, func(o *vk.Options) { o.Staging = true })
}

// ProfilingDevice opens a second handle on the test device that records
// GPU timestamps around every dispatch, as VKINFER_PROFILE=1 does. It is
// closed when the test ends.
func ProfilingDevice(t testing.TB) *vk.Device {
	t.Helper()
	return second(t, func(o *vk.Options) { o.Profile = true })
}

// second opens the test device again with options of its own.
func second(t testing.TB, set func(*vk.Options)) *vk.Device {
	t.Helper()
	Device(t)
	opts := vk.DefaultOptions()
	opts.AllowCPU = true
	set(&opts)
	d, err := vk.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
