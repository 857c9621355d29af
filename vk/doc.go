// Package vk is the Vulkan device layer: it loads the Vulkan loader
// (libvulkan.so.1) itself, creates a headless instance, picks a compute
// device, and offers what a forward pass needs from it: buffers in device
// memory, compute pipelines from SPIR-V with specialization and push
// constants, descriptor sets allocated once, and a Step that records every
// dispatch of one forward step into one command buffer, submitted once and
// waited on once.
//
// It knows nothing about models or shaders' meaning; model backends build
// on it. A missing loader or device is an error (ErrNoLoader, ErrNoDevice)
// that callers turn into a fall back to the CPU path, never a crash.
//
// Calls go through github.com/vulkan-go/vulkan, except those that pass
// arrays of structs (device, pipeline and descriptor creation, barriers,
// copies, submits): the binding frees its C copies of such arrays from a
// finalizer that can run while the driver still reads them (a crash seen
// under load), so shim.go builds those structs in C.
//
// Setting VKINFER_PROFILE=1 records GPU timestamps around every dispatch;
// Step.Profile then returns per-op times.
package vk
