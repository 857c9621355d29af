package vk

import (
	"errors"
	"fmt"

	vulkan "github.com/vulkan-go/vulkan"
)

// Sentinel errors callers branch on: either means "use the CPU path".
var (
	// ErrNoLoader: the Vulkan loader is not installed or does not start.
	ErrNoLoader = errors.New("no Vulkan loader")
	// ErrNoDevice: no device fits the request (none at all, only a CPU
	// device when one was not allowed, or none with the features needed).
	ErrNoDevice = errors.New("no usable Vulkan device")
)

// check turns a Vulkan result into an error naming the call.
func check(r vulkan.Result, call string) error {
	if r == vulkan.Success {
		return nil
	}
	return fmt.Errorf("vk: %s: %w", call, vulkan.Error(r))
}
