package pool

import (
	"fmt"
	"slices"
	"sync"
)

// Need is the memory a model takes on one backend device, as the loader
// computes it before loading.
type Need struct {
	Backend string // e.g. "cpu", "vulkan"
	Device  string // device name; memory budgets are kept per device
	// Weights are shared by all instances of a model; KVCache and Scratch
	// are per instance (per worker).
	Weights, KVCache, Scratch uint64
}

// Instance returns the memory each instance adds beyond the weights.
func (n Need) Instance() uint64 { return n.KVCache + n.Scratch }

// Total returns the memory of the first instance, weights included.
func (n Need) Total() uint64 { return n.Weights + n.Instance() }

// Budget is the memory limit per device, shared by any pools given it. It
// is safe for concurrent use.
type Budget struct {
	mu     sync.Mutex
	limit  uint64            // for devices not in limits; 0 = unlimited
	limits map[string]uint64 // per device
	used   map[string]uint64
}

// NewBudget returns a budget of limit bytes per device (0 = unlimited),
// with perDevice overriding it for the devices it names.
func NewBudget(limit uint64, perDevice map[string]uint64) *Budget {
	b := &Budget{limit: limit, limits: make(map[string]uint64), used: make(map[string]uint64)}
	for d, l := range perDevice {
		b.limits[d] = l
	}
	return b
}

func (b *Budget) limitOf(device string) uint64 {
	if l, ok := b.limits[device]; ok {
		return l
	}
	return b.limit
}

// reserve takes n bytes on device if they fit, else reports what is free.
func (b *Budget) reserve(device string, n uint64) (ok bool, free uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit, used := b.limitOf(device), b.used[device]
	if limit == 0 {
		b.used[device] = used + n
		return true, 0
	}
	if used > limit {
		return false, 0
	}
	if free = limit - used; n > free {
		return false, free
	}
	b.used[device] = used + n
	return true, free - n
}

func (b *Budget) release(device string, n uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used[device] -= min(n, b.used[device])
}

// DeviceMemory is one device's memory use.
type DeviceMemory struct {
	Device      string
	Used, Limit uint64 // Limit 0 = unlimited
}

// Snapshot returns the memory use of every device with a limit or use,
// sorted by device name.
func (b *Budget) Snapshot() []DeviceMemory {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []DeviceMemory
	seen := make(map[string]bool)
	for d := range b.used {
		seen[d] = true
	}
	for d := range b.limits {
		seen[d] = true
	}
	for d := range seen {
		out = append(out, DeviceMemory{Device: d, Used: b.used[d], Limit: b.limitOf(d)})
	}
	slices.SortFunc(out, func(a, b DeviceMemory) int {
		switch {
		case a.Device < b.Device:
			return -1
		case a.Device > b.Device:
			return 1
		}
		return 0
	})
	return out
}

// mib formats a byte count for error messages.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
