package vk

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

static void *vkinfer_loader;

void *vkinfer_loader_handle(void) { return vkinfer_loader; }

// vkinfer_open_loader opens the Vulkan loader by its ABI name, so that the
// -dev symlink libvulkan.so is not needed, and returns its
// vkGetInstanceProcAddr, or NULL with the dlerror text in err.
static void *vkinfer_open_loader(const char *name, char *err, size_t errlen) {
	if (vkinfer_loader == NULL) {
		vkinfer_loader = dlopen(name, RTLD_NOW | RTLD_LOCAL);
		if (vkinfer_loader == NULL) {
			const char *e = dlerror();
			strncpy(err, e ? e : "dlopen failed", errlen - 1);
			err[errlen - 1] = 0;
			return NULL;
		}
	}
	void *f = dlsym(vkinfer_loader, "vkGetInstanceProcAddr");
	if (f == NULL) {
		strncpy(err, "no vkGetInstanceProcAddr in the loader", errlen - 1);
		err[errlen - 1] = 0;
	}
	return f;
}

typedef struct {
	uint32_t subgroupSize;
	uint32_t subgroupStages;
	uint32_t subgroupOps;
	uint32_t shaderFloat16;
	uint32_t shaderInt8;
	uint32_t storage16;
	uint32_t storage8;
	uint32_t shaderInt64;
	int ok;
} vkinfer_caps;

// vkinfer_query_caps reads what the binding's Vulkan 1.0 wrappers cannot:
// subgroup properties and the 1.1/1.2 storage and arithmetic features.
static vkinfer_caps vkinfer_query_caps(void *gipa, VkInstance inst, VkPhysicalDevice pd) {
	vkinfer_caps c;
	memset(&c, 0, sizeof c);
	PFN_vkGetInstanceProcAddr get = (PFN_vkGetInstanceProcAddr)gipa;
	PFN_vkGetPhysicalDeviceProperties2 props2 =
		(PFN_vkGetPhysicalDeviceProperties2)get(inst, "vkGetPhysicalDeviceProperties2");
	PFN_vkGetPhysicalDeviceFeatures2 feats2 =
		(PFN_vkGetPhysicalDeviceFeatures2)get(inst, "vkGetPhysicalDeviceFeatures2");
	if (props2 == NULL || feats2 == NULL) {
		return c;
	}
	VkPhysicalDeviceSubgroupProperties sg;
	memset(&sg, 0, sizeof sg);
	sg.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
	VkPhysicalDeviceProperties2 p;
	memset(&p, 0, sizeof p);
	p.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
	p.pNext = &sg;
	props2(pd, &p);
	c.subgroupSize = sg.subgroupSize;
	c.subgroupStages = sg.supportedStages;
	c.subgroupOps = sg.supportedOperations;

	VkPhysicalDeviceVulkan12Features f12;
	memset(&f12, 0, sizeof f12);
	f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
	VkPhysicalDeviceVulkan11Features f11;
	memset(&f11, 0, sizeof f11);
	f11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
	f11.pNext = &f12;
	VkPhysicalDeviceFeatures2 f;
	memset(&f, 0, sizeof f);
	f.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
	f.pNext = &f11;
	feats2(pd, &f);
	c.shaderFloat16 = f12.shaderFloat16;
	c.shaderInt8 = f12.shaderInt8;
	c.storage16 = f11.storageBuffer16BitAccess;
	c.storage8 = f12.storageBuffer8BitAccess;
	c.shaderInt64 = f.features.shaderInt64;
	c.ok = 1;
	return c;
}

// vkinfer_feature_chain returns a malloc'd pNext chain enabling the
// features the shaders' SPIR-V declares, all of which Info.Usable
// requires; the caller frees it with vkinfer_free_chain.
static void *vkinfer_feature_chain(void) {
	VkPhysicalDeviceFeatures2 *f = calloc(1, sizeof *f);
	VkPhysicalDeviceVulkan11Features *f11 = calloc(1, sizeof *f11);
	VkPhysicalDeviceVulkan12Features *f12 = calloc(1, sizeof *f12);
	f->sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
	f->pNext = f11;
	f->features.shaderInt64 = VK_TRUE;
	f11->sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
	f11->pNext = f12;
	f11->storageBuffer16BitAccess = VK_TRUE;
	f12->sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
	f12->storageBuffer8BitAccess = VK_TRUE;
	f12->shaderInt8 = VK_TRUE;
	return f;
}

static void vkinfer_free_chain(void *p) {
	VkPhysicalDeviceFeatures2 *f = p;
	VkPhysicalDeviceVulkan11Features *f11 = f->pNext;
	free(f11->pNext);
	free(f11);
	free(f);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"
)

// LoaderName is the Vulkan loader's ABI name, present wherever a Vulkan
// driver is installed (Debian: libvulkan1).
const LoaderName = "libvulkan.so.1"

var (
	loadOnce sync.Once
	loadErr  error
	gipa     unsafe.Pointer
)

// load opens the loader once per process and hands its entry point to the
// binding. The binding's own loader wants the -dev symlink and reports
// success even when nothing was found, after which the first call crashes.
func load() error {
	loadOnce.Do(func() {
		name := C.CString(LoaderName)
		defer C.free(unsafe.Pointer(name))
		var msg [256]C.char
		p := C.vkinfer_open_loader(name, &msg[0], C.size_t(len(msg)))
		if p == nil {
			loadErr = fmt.Errorf("vk: %s: %s: %w", LoaderName, C.GoString(&msg[0]), ErrNoLoader)
			return
		}
		gipa = p
		vulkan.SetGetInstanceProcAddr(p)
		if err := vulkan.Init(); err != nil {
			loadErr = fmt.Errorf("vk: %v: %w", err, ErrNoLoader)
			return
		}
		if err := loadShim(); err != nil {
			loadErr = fmt.Errorf("%v: %w", err, ErrNoLoader)
		}
	})
	return loadErr
}

// caps are the device facts the binding's Vulkan 1.0 API cannot read.
type caps struct {
	subgroupSize        uint32
	subgroupArithmetic  bool
	subgroupBallot      bool
	subgroupCompute     bool
	float16, int8       bool
	storage16, storage8 bool
	int64               bool
}

func queryCaps(inst vulkan.Instance, pd vulkan.PhysicalDevice) (caps, error) {
	c := C.vkinfer_query_caps(gipa, C.VkInstance(unsafe.Pointer(inst)), C.VkPhysicalDevice(unsafe.Pointer(pd)))
	if c.ok == 0 {
		return caps{}, errors.New("vk: the loader lacks vkGetPhysicalDeviceProperties2 (Vulkan 1.1 is required)")
	}
	return caps{
		subgroupSize:       uint32(c.subgroupSize),
		subgroupArithmetic: c.subgroupOps&C.VK_SUBGROUP_FEATURE_ARITHMETIC_BIT != 0,
		subgroupBallot:     c.subgroupOps&C.VK_SUBGROUP_FEATURE_BALLOT_BIT != 0,
		subgroupCompute:    c.subgroupStages&C.VK_SHADER_STAGE_COMPUTE_BIT != 0,
		float16:            c.shaderFloat16 != 0,
		int8:               c.shaderInt8 != 0,
		storage16:          c.storage16 != 0,
		storage8:           c.storage8 != 0,
		int64:              c.shaderInt64 != 0,
	}, nil
}

// featureChain is the pNext chain for vkCreateDevice; free releases it.
func featureChain() (chain unsafe.Pointer, free func()) {
	p := C.vkinfer_feature_chain()
	return p, func() { C.vkinfer_free_chain(p) }
}

// heapOf copies v to the heap. The binding stores the data pointers of
// slices inside the C structs it builds; a slice literal may live on a
// goroutine stack, which can move while the binding builds them, so every
// slice of scalars or handles handed to it goes through here (or lives in
// a long-lived heap object).
func heapOf[T any](v ...T) []T {
	s := make([]T, len(v))
	copy(s, v)
	return s
}
