package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vkinfer/vkinfer/backend/cpu"
	"github.com/vkinfer/vkinfer/backend/vulkan"
	"github.com/vkinfer/vkinfer/kernels"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/vk"
	"github.com/vkinfer/vkinfer/vk/ops"
)

// backend is the compute backend the daemon runs models on: a Vulkan
// device, or the CPU kernels when none is asked for or none opens.
type backend struct {
	dev *vk.Device   // nil: CPU kernels
	k   *ops.Kernels // nil: CPU kernels
	// fallback says why a Vulkan device was wanted but not used.
	fallback string
}

// openDevice is vk.Open; tests replace it to simulate a machine without
// a loader or device.
var openDevice = vk.Open

// chooseBackend opens the device cfg.Device names. "cpu" uses the
// kernels; "auto" uses a GPU when the machine has one; "vulkan" and
// "vulkan:N" also accept a CPU-type device (lavapipe). A missing loader or
// device is never fatal: the daemon serves on the CPU kernels and logs why.
func chooseBackend(device string, log *slog.Logger) (*backend, error) {
	kind, index, err := ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if kind == "cpu" {
		return &backend{}, nil
	}
	opts := vk.DefaultOptions()
	opts.Index = index
	opts.AllowCPU = kind == "vulkan"
	d, err := openDevice(opts)
	if err != nil {
		b := &backend{fallback: err.Error()}
		switch {
		case kind == "auto" && errors.Is(err, vk.ErrNoDevice):
			log.Info("no Vulkan GPU: serving on the CPU kernels", "reason", err.Error())
		case errors.Is(err, vk.ErrNoLoader), errors.Is(err, vk.ErrNoDevice):
			log.Warn("Vulkan device unavailable: falling back to the CPU kernels", "device", device, "reason", err.Error())
		default:
			log.Warn("Vulkan device failed to open: falling back to the CPU kernels", "device", device, "err", err.Error())
		}
		return b, nil
	}
	log.Info("Vulkan device opened", "device", d.Info.String(), "profile", d.Profiling())
	return &backend{dev: d, k: ops.New(d)}, nil
}

// runner returns the backend models are opened for.
func (b *backend) runner() runner.Backend {
	if b.k != nil {
		return vulkan.Backend{K: b.k}
	}
	return cpu.Backend{}
}

// Vulkan reports whether models run on a Vulkan device.
func (b *backend) Vulkan() bool { return b.k != nil }

// Device names the device for status and pool accounting.
func (b *backend) Device() string {
	if b.Vulkan() {
		return b.dev.Info.Name
	}
	return "cpu"
}

// Name describes the backend for status.
func (b *backend) Name() string {
	if b.Vulkan() {
		return fmt.Sprintf("vulkan: %s", b.dev.Info)
	}
	s := cpuBackend()
	if b.fallback != "" {
		s += " (Vulkan unavailable: " + b.fallback + ")"
	}
	return s
}

// Kind is "vulkan" or "cpu".
func (b *backend) Kind() string {
	if b.Vulkan() {
		return "vulkan"
	}
	return "cpu"
}

// Close releases the device.
func (b *backend) Close() {
	if b.Vulkan() {
		b.k.Close()
		b.dev.Close()
	}
}

// cpuBackend names the CPU kernels in use: their set (go, avx2, vnni or
// bf16, as kernels.KernelSet names it) and threads.
func cpuBackend() string {
	return fmt.Sprintf("cpu kernels (%s), %d threads", kernels.KernelSet(), kernels.Threads())
}
