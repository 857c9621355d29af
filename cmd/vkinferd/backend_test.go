package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/internal/vktest"
	"github.com/vkinfer/vkinfer/vk"
)

func TestChooseBackendFallsBack(t *testing.T) {
	saved := openDevice
	defer func() { openDevice = saved }()
	for _, tc := range []struct {
		device, want string
		err          error
	}{
		{"auto", "no Vulkan GPU: serving on the CPU kernels", fmt.Errorf("vk: llvmpipe: CPU device not asked for: %w", vk.ErrNoDevice)},
		{"auto", "Vulkan device unavailable: falling back to the CPU kernels", fmt.Errorf("vk: libvulkan.so.1: not found: %w", vk.ErrNoLoader)},
		{"vulkan", "Vulkan device unavailable: falling back to the CPU kernels", fmt.Errorf("vk: the loader reports no devices: %w", vk.ErrNoDevice)},
		{"vulkan:3", "Vulkan device failed to open: falling back to the CPU kernels", errors.New("vk: vkCreateDevice: out of memory")},
	} {
		var asked vk.Options
		openDevice = func(o vk.Options) (*vk.Device, error) { asked = o; return nil, tc.err }
		var log bytes.Buffer
		b, err := chooseBackend(tc.device, slog.New(slog.NewTextHandler(&log, nil)))
		if err != nil {
			t.Fatalf("%s: %v", tc.device, err)
		}
		if b.Vulkan() || b.Device() != "cpu" || !strings.Contains(b.Name(), "Vulkan unavailable: "+tc.err.Error()) {
			t.Errorf("%s: backend %q on %q", tc.device, b.Name(), b.Device())
		}
		if !strings.Contains(log.String(), tc.want) {
			t.Errorf("%s: log %q lacks %q", tc.device, log.String(), tc.want)
		}
		if asked.AllowCPU != strings.HasPrefix(tc.device, "vulkan") {
			t.Errorf("%s: AllowCPU %v", tc.device, asked.AllowCPU)
		}
		if tc.device == "vulkan:3" && asked.Index != 3 {
			t.Errorf("vulkan:3 opened index %d", asked.Index)
		}
	}
	openDevice = func(vk.Options) (*vk.Device, error) { t.Fatal("cpu opened a device"); return nil, nil }
	if b, err := chooseBackend("cpu", slog.Default()); err != nil || b.Vulkan() {
		t.Fatalf("cpu: %v %v", b, err)
	}
	if _, err := chooseBackend("gpu", slog.Default()); err == nil {
		t.Fatal("device gpu accepted")
	}
}

// TestVulkanDaemon serves stories260K on the Vulkan device (lavapipe in
// CI) and checks the text and ids against llama.cpp's reference.
func TestVulkanDaemon(t *testing.T) {
	vktest.Device(t)
	d := startDaemon(t, modelsDir(t), socketPath(t), "--device", "vulkan", "--parallel", "2")
	c := d.client()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Backend, "vulkan: ") || st.Device == "cpu" {
		t.Fatalf("status: backend %q device %q", st.Backend, st.Device)
	}
	_, want := referenceIDs(t, "stories260K")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.Generate(context.Background(), greedy(len(want)))
			if err != nil {
				errs <- err
				return
			}
			text, ids, _, err := drain(s)
			switch {
			case err != nil:
				errs <- err
			case !slices.Equal(ids, want):
				errs <- fmt.Errorf("ids %v, want %v", ids, want)
			case !strings.HasPrefix(text, ", there was a little girl named Lily."):
				errs <- fmt.Errorf("text %q", text)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestVulkanMissingAtStart starts the daemon asking for Vulkan on a
// machine whose loader finds no driver: it must serve on the CPU and say
// so in its log and status.
func TestVulkanMissingAtStart(t *testing.T) {
	env := []string{"VK_ICD_FILENAMES=/nonexistent/icd.json", "VK_DRIVER_FILES=/nonexistent/icd.json"}
	d := startDaemonEnv(t, env, modelsDir(t), socketPath(t), "--device", "vulkan")
	c := d.client()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Device != "cpu" || !strings.Contains(st.Backend, "Vulkan unavailable") {
		t.Fatalf("status: backend %q device %q", st.Backend, st.Device)
	}
	s, err := c.Generate(context.Background(), greedy(16))
	if err != nil {
		t.Fatal(err)
	}
	_, ids, _, err := drain(s)
	_, want := referenceIDs(t, "stories260K")
	if err != nil || !slices.Equal(ids, want[:16]) {
		t.Fatalf("ids %v (%v), want %v", ids, err, want[:16])
	}
	if log := d.log.String(); !strings.Contains(log, "falling back to the CPU kernels") {
		t.Fatalf("no fallback line in the log:\n%s", log)
	}
}

// TestVulkanProfileLog: with VKINFER_PROFILE=1 each generation logs its
// GPU time per op.
func TestVulkanProfileLog(t *testing.T) {
	vktest.Device(t)
	d := startDaemonEnv(t, []string{"VKINFER_PROFILE=1"}, modelsDir(t), socketPath(t), "--device", "vulkan")
	s, err := d.client().Generate(context.Background(), greedy(4))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := drain(s); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.log.String(), "vulkan profile") {
		if time.Now().After(deadline) {
			t.Fatalf("no profile line in the log:\n%s", d.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, op := range []string{"matvec_F32=", "attention=", "sample=", "gpu_total="} {
		if !strings.Contains(d.log.String(), op) {
			t.Errorf("profile line lacks %s:\n%s", op, d.log.String())
		}
	}
}
