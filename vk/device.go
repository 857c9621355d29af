package vk

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"
)

// Type is a physical device's kind, in the order devices are preferred.
type Type int

// Device kinds, best first.
const (
	Discrete Type = iota
	Integrated
	Virtual
	CPU
	Other
)

func (t Type) String() string {
	return [...]string{"discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other"}[t]
}

func typeOf(t vulkan.PhysicalDeviceType) Type {
	switch t {
	case vulkan.PhysicalDeviceTypeDiscreteGpu:
		return Discrete
	case vulkan.PhysicalDeviceTypeIntegratedGpu:
		return Integrated
	case vulkan.PhysicalDeviceTypeVirtualGpu:
		return Virtual
	case vulkan.PhysicalDeviceTypeCpu:
		return CPU
	}
	return Other
}

// Info describes a physical device: what it is and the limits and
// features the shaders depend on.
type Info struct {
	Index      int
	Name       string
	Type       Type
	APIVersion string

	SubgroupSize uint32
	// SubgroupOps: subgroupAdd/Max (arithmetic) and subgroupBroadcast
	// (ballot) in compute shaders; shaders take a shared-memory path when
	// it is false.
	SubgroupOps bool
	// Int8 (shaderInt8), 16/8-bit storage and Int64 are what the SPIR-V
	// declares (Int8, StorageBuffer16BitAccess, StorageBuffer8BitAccess,
	// Int64), so Usable requires them. Float16 is only reported: shaders
	// unpack f16 from 16-bit storage and declare no Float16.
	Int8, Float16       bool
	Storage16, Storage8 bool
	Int64               bool

	MaxStorageBufferRange   uint64
	MaxSharedMemory         uint32
	MaxPushConstants        uint32
	MaxWorkgroupInvocations uint32
	MaxWorkgroupCount       uint32 // in x
	MaxWorkgroupCountY      uint32
	TimestampPeriod         float32 // nanoseconds per tick
	TimestampBits           uint32
	ComputeQueue            int // queue family index, -1 when none
}

// Usable reports why the device cannot run vkinfer's shaders, or "".
func (i Info) Usable() string {
	switch {
	case i.ComputeQueue < 0:
		return "no compute queue"
	case !i.Storage16 || !i.Storage8:
		return "no 16/8-bit storage buffer access"
	case !i.Int8:
		return "no 8-bit integers in shaders"
	case !i.Int64:
		return "no 64-bit integers in shaders"
	case i.MaxPushConstants < 128:
		return "push constants smaller than 128 bytes"
	case i.MaxSharedMemory < 16384:
		return "less than 16 KiB of shared memory"
	case i.MaxWorkgroupInvocations < 256:
		return "workgroups smaller than 256 invocations"
	}
	return ""
}

func (i Info) String() string {
	return fmt.Sprintf("%s (%s, Vulkan %s, subgroup %d)", i.Name, i.Type, i.APIVersion, i.SubgroupSize)
}

// Options choose the device.
type Options struct {
	// AllowCPU lets a CPU-type device (lavapipe) be picked. It is slower
	// than the CPU kernels for most models, so it is used only when asked.
	AllowCPU bool
	// Index picks a device by its enumeration index; -1 picks the best.
	Index int
	// Staging forces uploads and readbacks through staging buffers even
	// where device memory is host-visible, as on discrete GPUs.
	Staging bool
	// Profile records GPU timestamps around every dispatch.
	Profile bool
}

// DefaultOptions picks the best GPU, with profiling when VKINFER_PROFILE=1.
func DefaultOptions() Options {
	return Options{Index: -1, Profile: os.Getenv("VKINFER_PROFILE") == "1"}
}

// Device is an open logical device with one compute queue. It is safe for
// concurrent use; each Step belongs to one goroutine at a time.
type Device struct {
	Info Info

	inst  vulkan.Instance
	pd    vulkan.PhysicalDevice
	dev   vulkan.Device
	queue vulkan.Queue
	mem   vulkan.PhysicalDeviceMemoryProperties
	cache vulkan.PipelineCache
	opts  Options

	submitMu sync.Mutex // vkQueueSubmit needs the queue externally synchronised
	submits  atomic.Uint64
	closeMu  sync.Mutex
	closed   bool
}

func newInstance() (vulkan.Instance, error) {
	if err := load(); err != nil {
		return nil, err
	}
	app := &vulkan.ApplicationInfo{
		SType:              vulkan.StructureTypeApplicationInfo,
		PApplicationName:   "vkinfer\x00",
		ApplicationVersion: vulkan.MakeVersion(0, 1, 0),
		PEngineName:        "vkinfer\x00",
		EngineVersion:      vulkan.MakeVersion(0, 1, 0),
		ApiVersion:         vulkan.MakeVersion(1, 2, 0),
	}
	var inst vulkan.Instance
	r := vulkan.CreateInstance(&vulkan.InstanceCreateInfo{
		SType:            vulkan.StructureTypeInstanceCreateInfo,
		PApplicationInfo: app,
	}, nil, &inst)
	if r == vulkan.ErrorIncompatibleDriver {
		return nil, fmt.Errorf("vk: no driver offers Vulkan 1.2: %w", ErrNoDevice)
	}
	if err := check(r, "vkCreateInstance"); err != nil {
		return nil, fmt.Errorf("%w (%w)", err, ErrNoLoader)
	}
	if err := vulkan.InitInstance(inst); err != nil {
		vulkan.DestroyInstance(inst, nil)
		return nil, fmt.Errorf("vk: %v: %w", err, ErrNoLoader)
	}
	return inst, nil
}

func physicalDevices(inst vulkan.Instance) ([]vulkan.PhysicalDevice, error) {
	var n uint32
	if err := check(vulkan.EnumeratePhysicalDevices(inst, &n, nil), "vkEnumeratePhysicalDevices"); err != nil {
		return nil, err
	}
	pds := make([]vulkan.PhysicalDevice, n)
	if n == 0 {
		return pds, nil
	}
	if err := check(vulkan.EnumeratePhysicalDevices(inst, &n, pds), "vkEnumeratePhysicalDevices"); err != nil {
		return nil, err
	}
	return pds[:n], nil
}

func describe(inst vulkan.Instance, pd vulkan.PhysicalDevice, index int) (Info, error) {
	var p vulkan.PhysicalDeviceProperties
	vulkan.GetPhysicalDeviceProperties(pd, &p)
	p.Deref()
	p.Limits.Deref()
	c, err := queryCaps(inst, pd)
	if err != nil {
		return Info{}, err
	}
	v := p.ApiVersion
	info := Info{
		Index:                   index,
		Name:                    vulkan.ToString(p.DeviceName[:]),
		Type:                    typeOf(p.DeviceType),
		APIVersion:              fmt.Sprintf("%d.%d.%d", v>>22, v>>12&0x3ff, v&0xfff),
		SubgroupSize:            c.subgroupSize,
		SubgroupOps:             c.subgroupArithmetic && c.subgroupBallot && c.subgroupCompute,
		Float16:                 c.float16,
		Int8:                    c.int8,
		Storage16:               c.storage16,
		Storage8:                c.storage8,
		Int64:                   c.int64,
		MaxStorageBufferRange:   uint64(p.Limits.MaxStorageBufferRange),
		MaxSharedMemory:         p.Limits.MaxComputeSharedMemorySize,
		MaxPushConstants:        p.Limits.MaxPushConstantsSize,
		MaxWorkgroupInvocations: p.Limits.MaxComputeWorkGroupInvocations,
		MaxWorkgroupCount:       p.Limits.MaxComputeWorkGroupCount[0],
		MaxWorkgroupCountY:      p.Limits.MaxComputeWorkGroupCount[1],
		TimestampPeriod:         p.Limits.TimestampPeriod,
		ComputeQueue:            -1,
	}
	var n uint32
	vulkan.GetPhysicalDeviceQueueFamilyProperties(pd, &n, nil)
	fams := make([]vulkan.QueueFamilyProperties, n)
	vulkan.GetPhysicalDeviceQueueFamilyProperties(pd, &n, fams)
	for i := range fams {
		fams[i].Deref()
		if fams[i].QueueFlags&vulkan.QueueFlags(vulkan.QueueComputeBit) != 0 {
			info.ComputeQueue = i
			info.TimestampBits = fams[i].TimestampValidBits
			break
		}
	}
	return info, nil
}

// Devices lists every physical device the loader reports.
func Devices() ([]Info, error) {
	inst, err := newInstance()
	if err != nil {
		return nil, err
	}
	defer vulkan.DestroyInstance(inst, nil)
	_, infos, err := describeAll(inst)
	return infos, err
}

// describeAll enumerates inst's physical devices and describes each.
func describeAll(inst vulkan.Instance) ([]vulkan.PhysicalDevice, []Info, error) {
	pds, err := physicalDevices(inst)
	if err != nil {
		return nil, nil, err
	}
	infos := make([]Info, len(pds))
	for i, pd := range pds {
		if infos[i], err = describe(inst, pd, i); err != nil {
			return nil, nil, err
		}
	}
	return pds, infos, nil
}

// Pick returns the index of the device to use among infos: opts.Index
// when set, else the first usable discrete GPU, then integrated, then
// virtual, then (only with AllowCPU) a CPU device.
func Pick(infos []Info, opts Options) (int, error) {
	if opts.Index >= 0 {
		if opts.Index >= len(infos) {
			return -1, fmt.Errorf("vk: device %d asked for, %d present: %w", opts.Index, len(infos), ErrNoDevice)
		}
		if why := infos[opts.Index].Usable(); why != "" {
			return -1, fmt.Errorf("vk: device %d (%s): %s: %w", opts.Index, infos[opts.Index].Name, why, ErrNoDevice)
		}
		return opts.Index, nil
	}
	best := -1
	var skipped []string
	for i, d := range infos {
		if why := d.Usable(); why != "" {
			skipped = append(skipped, d.Name+": "+why)
			continue
		}
		if d.Type == Other || (d.Type == CPU && !opts.AllowCPU) {
			skipped = append(skipped, d.Name+": "+d.Type.String()+" device not asked for")
			continue
		}
		if best < 0 || d.Type < infos[best].Type {
			best = i
		}
	}
	if best < 0 {
		if len(infos) == 0 {
			return -1, fmt.Errorf("vk: the loader reports no devices: %w", ErrNoDevice)
		}
		return -1, fmt.Errorf("vk: %s: %w", strings.Join(skipped, "; "), ErrNoDevice)
	}
	return best, nil
}

// Open creates an instance and a logical device chosen by opts.
func Open(opts Options) (*Device, error) {
	inst, err := newInstance()
	if err != nil {
		return nil, err
	}
	d, err := open(inst, opts)
	if err != nil {
		vulkan.DestroyInstance(inst, nil)
		return nil, err
	}
	return d, nil
}

func open(inst vulkan.Instance, opts Options) (*Device, error) {
	pds, infos, err := describeAll(inst)
	if err != nil {
		return nil, err
	}
	idx, err := Pick(infos, opts)
	if err != nil {
		return nil, err
	}
	d := &Device{Info: infos[idx], inst: inst, pd: pds[idx], opts: opts}
	chain, free := featureChain()
	defer free()
	dev, r := shimCreateDevice(d.pd, uint32(d.Info.ComputeQueue), chain)
	if err := check(r, "vkCreateDevice"); err != nil {
		return nil, fmt.Errorf("%w on %s", err, d.Info.Name)
	}
	d.dev = dev
	var q vulkan.Queue
	vulkan.GetDeviceQueue(dev, uint32(d.Info.ComputeQueue), 0, &q)
	d.queue = q
	vulkan.GetPhysicalDeviceMemoryProperties(d.pd, &d.mem)
	d.mem.Deref()
	for i := range d.mem.MemoryTypes[:d.mem.MemoryTypeCount] {
		d.mem.MemoryTypes[i].Deref()
	}
	var cache vulkan.PipelineCache
	if err := check(vulkan.CreatePipelineCache(dev, &vulkan.PipelineCacheCreateInfo{
		SType: vulkan.StructureTypePipelineCacheCreateInfo,
	}, nil, &cache), "vkCreatePipelineCache"); err != nil {
		vulkan.DestroyDevice(dev, nil)
		return nil, err
	}
	d.cache = cache
	return d, nil
}

// Submits returns how many command buffers have been submitted to the
// device's queue, staged copies included: the count a step is held to.
func (d *Device) Submits() uint64 { return d.submits.Load() }

// Profiling reports whether Steps record timestamps.
func (d *Device) Profiling() bool { return d.opts.Profile && d.Info.TimestampBits > 0 }

// Close waits for the device to go idle and destroys it. Everything made
// from it must be closed first.
func (d *Device) Close() error {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	vulkan.DeviceWaitIdle(d.dev)
	vulkan.DestroyPipelineCache(d.dev, d.cache, nil)
	vulkan.DestroyDevice(d.dev, nil)
	vulkan.DestroyInstance(d.inst, nil)
	return nil
}

// handle reinterprets a binding handle for the C shim.
func handle[T any](h T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&h)) }
