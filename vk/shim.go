package vk

/*
#include <dlfcn.h>
#include <string.h>
#include <vulkan/vulkan.h>

// The Vulkan calls that take arrays of structs go through this shim, not
// through the binding: the binding frees the C copies of such arrays from
// a finalizer on a value that is garbage as soon as the call starts, so a
// garbage collection during the call can free them under the driver.
// Each function here builds its structs on the C stack and calls the
// loader's exported entry point.

void *vkinfer_loader_handle(void);

#define VKINFER_FN(name) static PFN_##name p_##name;
VKINFER_FN(vkCreateDevice)
VKINFER_FN(vkCreateDescriptorSetLayout)
VKINFER_FN(vkCreatePipelineLayout)
VKINFER_FN(vkCreateComputePipelines)
VKINFER_FN(vkCreateDescriptorPool)
VKINFER_FN(vkAllocateDescriptorSets)
VKINFER_FN(vkUpdateDescriptorSets)
VKINFER_FN(vkBeginCommandBuffer)
VKINFER_FN(vkCmdPipelineBarrier)
VKINFER_FN(vkCmdCopyBuffer)
VKINFER_FN(vkQueueSubmit)

static int vkinfer_shim_load(void) {
	void *h = vkinfer_loader_handle();
	if (h == NULL) return 0;
#define VKINFER_LOAD(name) if ((p_##name = (PFN_##name)dlsym(h, #name)) == NULL) return 0;
	VKINFER_LOAD(vkCreateDevice)
	VKINFER_LOAD(vkCreateDescriptorSetLayout)
	VKINFER_LOAD(vkCreatePipelineLayout)
	VKINFER_LOAD(vkCreateComputePipelines)
	VKINFER_LOAD(vkCreateDescriptorPool)
	VKINFER_LOAD(vkAllocateDescriptorSets)
	VKINFER_LOAD(vkUpdateDescriptorSets)
	VKINFER_LOAD(vkBeginCommandBuffer)
	VKINFER_LOAD(vkCmdPipelineBarrier)
	VKINFER_LOAD(vkCmdCopyBuffer)
	VKINFER_LOAD(vkQueueSubmit)
	return 1;
}

static VkResult vkinfer_create_device(VkPhysicalDevice pd, uint32_t family, void *features, VkDevice *dev) {
	float priority = 1.0f;
	VkDeviceQueueCreateInfo q;
	memset(&q, 0, sizeof q);
	q.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
	q.queueFamilyIndex = family;
	q.queueCount = 1;
	q.pQueuePriorities = &priority;
	VkDeviceCreateInfo ci;
	memset(&ci, 0, sizeof ci);
	ci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
	ci.pNext = features;
	ci.queueCreateInfoCount = 1;
	ci.pQueueCreateInfos = &q;
	return p_vkCreateDevice(pd, &ci, NULL, dev);
}

// vkinfer_create_pipeline makes the set layout (n storage buffers), the
// pipeline layout (push bytes of push constants) and the compute pipeline
// of module with nspec 32-bit specialization constants.
static VkResult vkinfer_create_pipeline(VkDevice dev, VkPipelineCache cache, VkShaderModule module, uint32_t n, uint32_t push,
                                        const uint32_t *spec, uint32_t nspec,
                                        VkDescriptorSetLayout *setLayout, VkPipelineLayout *layout, VkPipeline *pipe) {
	VkDescriptorSetLayoutBinding b[32];
	if (n > 32 || nspec > 16) return VK_ERROR_INITIALIZATION_FAILED;
	memset(b, 0, sizeof b);
	for (uint32_t i = 0; i < n; i++) {
		b[i].binding = i;
		b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		b[i].descriptorCount = 1;
		b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	}
	VkDescriptorSetLayoutCreateInfo sl;
	memset(&sl, 0, sizeof sl);
	sl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
	sl.bindingCount = n;
	sl.pBindings = b;
	VkResult r = p_vkCreateDescriptorSetLayout(dev, &sl, NULL, setLayout);
	if (r != VK_SUCCESS) return r;

	VkPushConstantRange pr;
	memset(&pr, 0, sizeof pr);
	pr.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
	pr.size = push;
	VkPipelineLayoutCreateInfo pl;
	memset(&pl, 0, sizeof pl);
	pl.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
	pl.setLayoutCount = 1;
	pl.pSetLayouts = setLayout;
	pl.pushConstantRangeCount = push > 0 ? 1 : 0;
	pl.pPushConstantRanges = &pr;
	r = p_vkCreatePipelineLayout(dev, &pl, NULL, layout);
	if (r != VK_SUCCESS) return r;

	VkSpecializationMapEntry e[16];
	uint32_t data[16];
	for (uint32_t i = 0; i < nspec; i++) {
		e[i].constantID = i;
		e[i].offset = 4 * i;
		e[i].size = 4;
		data[i] = spec[i];
	}
	VkSpecializationInfo si;
	memset(&si, 0, sizeof si);
	si.mapEntryCount = nspec;
	si.pMapEntries = e;
	si.dataSize = 4 * nspec;
	si.pData = data;
	VkComputePipelineCreateInfo ci;
	memset(&ci, 0, sizeof ci);
	ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
	ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
	ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
	ci.stage.module = module;
	ci.stage.pName = "main";
	ci.stage.pSpecializationInfo = nspec > 0 ? &si : NULL;
	ci.layout = *layout;
	return p_vkCreateComputePipelines(dev, cache, 1, &ci, NULL, pipe);
}

static VkResult vkinfer_create_descriptor_pool(VkDevice dev, uint32_t sets, uint32_t buffers, VkDescriptorPool *pool) {
	VkDescriptorPoolSize ps;
	ps.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
	ps.descriptorCount = buffers;
	VkDescriptorPoolCreateInfo ci;
	memset(&ci, 0, sizeof ci);
	ci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
	ci.maxSets = sets;
	ci.poolSizeCount = 1;
	ci.pPoolSizes = &ps;
	return p_vkCreateDescriptorPool(dev, &ci, NULL, pool);
}

// vkinfer_bind_set allocates a set of layout from pool and points its
// bindings 0..n-1 at the buffer ranges.
static VkResult vkinfer_bind_set(VkDevice dev, VkDescriptorPool pool, VkDescriptorSetLayout layout, uint32_t n,
                                 const VkBuffer *bufs, const uint64_t *offs, const uint64_t *sizes, VkDescriptorSet *set) {
	if (n > 32) return VK_ERROR_INITIALIZATION_FAILED;
	VkDescriptorSetAllocateInfo ai;
	memset(&ai, 0, sizeof ai);
	ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
	ai.descriptorPool = pool;
	ai.descriptorSetCount = 1;
	ai.pSetLayouts = &layout;
	VkResult r = p_vkAllocateDescriptorSets(dev, &ai, set);
	if (r != VK_SUCCESS) return r;
	VkDescriptorBufferInfo bi[32];
	VkWriteDescriptorSet w[32];
	memset(w, 0, sizeof w);
	for (uint32_t i = 0; i < n; i++) {
		bi[i].buffer = bufs[i];
		bi[i].offset = offs[i];
		bi[i].range = sizes[i];
		w[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
		w[i].dstSet = *set;
		w[i].dstBinding = i;
		w[i].descriptorCount = 1;
		w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
		w[i].pBufferInfo = &bi[i];
	}
	p_vkUpdateDescriptorSets(dev, n, w, 0, NULL);
	return VK_SUCCESS;
}

static VkResult vkinfer_begin(VkCommandBuffer cb) {
	VkCommandBufferBeginInfo bi;
	memset(&bi, 0, sizeof bi);
	bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
	bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
	return p_vkBeginCommandBuffer(cb, &bi);
}

// vkinfer_barrier makes compute and transfer writes visible to later
// compute, transfer and host reads and writes.
static void vkinfer_barrier(VkCommandBuffer cb) {
	VkMemoryBarrier mb;
	memset(&mb, 0, sizeof mb);
	mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
	mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
	mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
	                   VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT;
	VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
	p_vkCmdPipelineBarrier(cb, st, st | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

static void vkinfer_copy(VkCommandBuffer cb, VkBuffer src, VkBuffer dst, uint64_t srcOff, uint64_t dstOff, uint64_t size) {
	VkBufferCopy c;
	c.srcOffset = srcOff;
	c.dstOffset = dstOff;
	c.size = size;
	p_vkCmdCopyBuffer(cb, src, dst, 1, &c);
}

static VkResult vkinfer_submit(VkQueue q, VkCommandBuffer cb, VkFence fence) {
	VkSubmitInfo si;
	memset(&si, 0, sizeof si);
	si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
	si.commandBufferCount = 1;
	si.pCommandBuffers = &cb;
	return p_vkQueueSubmit(q, 1, &si, fence);
}
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"
)

var (
	shimOnce sync.Once
	shimErr  error
)

// loadShim resolves the shim's entry points in the loader (after load).
func loadShim() error {
	shimOnce.Do(func() {
		if C.vkinfer_shim_load() == 0 {
			shimErr = errors.New("vk: the loader lacks a Vulkan 1.0 entry point")
		}
	})
	return shimErr
}

// c converts a binding handle to the C type the shim takes.
func c[T any, H any](h H) T { return *(*T)(unsafe.Pointer(&h)) }

func shimCreateDevice(pd vulkan.PhysicalDevice, family uint32, features unsafe.Pointer) (vulkan.Device, vulkan.Result) {
	var dev C.VkDevice
	r := C.vkinfer_create_device(c[C.VkPhysicalDevice](pd), C.uint32_t(family), features, &dev)
	return c[vulkan.Device](dev), vulkan.Result(r)
}

func shimCreatePipeline(dev vulkan.Device, cache vulkan.PipelineCache, module vulkan.ShaderModule, bindings int, push uint32, spec []uint32) (vulkan.DescriptorSetLayout, vulkan.PipelineLayout, vulkan.Pipeline, vulkan.Result) {
	var sl C.VkDescriptorSetLayout
	var pl C.VkPipelineLayout
	var p C.VkPipeline
	var sp *C.uint32_t
	if len(spec) > 0 {
		sp = (*C.uint32_t)(unsafe.Pointer(&spec[0]))
	}
	r := C.vkinfer_create_pipeline(c[C.VkDevice](dev), c[C.VkPipelineCache](cache), c[C.VkShaderModule](module),
		C.uint32_t(bindings), C.uint32_t(push), sp, C.uint32_t(len(spec)), &sl, &pl, &p)
	return c[vulkan.DescriptorSetLayout](sl), c[vulkan.PipelineLayout](pl), c[vulkan.Pipeline](p), vulkan.Result(r)
}

func shimCreateDescriptorPool(dev vulkan.Device, sets, buffers uint32) (vulkan.DescriptorPool, vulkan.Result) {
	var pool C.VkDescriptorPool
	r := C.vkinfer_create_descriptor_pool(c[C.VkDevice](dev), C.uint32_t(sets), C.uint32_t(buffers), &pool)
	return c[vulkan.DescriptorPool](pool), vulkan.Result(r)
}

func shimBindSet(dev vulkan.Device, pool vulkan.DescriptorPool, layout vulkan.DescriptorSetLayout, ranges []Range) (vulkan.DescriptorSet, vulkan.Result) {
	bufs := make([]C.VkBuffer, len(ranges))
	offs := make([]C.uint64_t, len(ranges))
	sizes := make([]C.uint64_t, len(ranges))
	for i, r := range ranges {
		bufs[i], offs[i], sizes[i] = c[C.VkBuffer](r.Buf.buf), C.uint64_t(r.Off), C.uint64_t(r.size())
	}
	var set C.VkDescriptorSet
	res := C.vkinfer_bind_set(c[C.VkDevice](dev), c[C.VkDescriptorPool](pool), c[C.VkDescriptorSetLayout](layout), C.uint32_t(len(ranges)),
		unsafe.SliceData(bufs), unsafe.SliceData(offs), unsafe.SliceData(sizes), &set)
	return c[vulkan.DescriptorSet](set), vulkan.Result(res)
}

func shimBegin(cb vulkan.CommandBuffer) vulkan.Result {
	return vulkan.Result(C.vkinfer_begin(c[C.VkCommandBuffer](cb)))
}

func shimBarrier(cb vulkan.CommandBuffer) { C.vkinfer_barrier(c[C.VkCommandBuffer](cb)) }

func shimCopy(cb vulkan.CommandBuffer, src, dst vulkan.Buffer, srcOff, dstOff, size uint64) {
	C.vkinfer_copy(c[C.VkCommandBuffer](cb), c[C.VkBuffer](src), c[C.VkBuffer](dst), C.uint64_t(srcOff), C.uint64_t(dstOff), C.uint64_t(size))
}

func shimSubmit(q vulkan.Queue, cb vulkan.CommandBuffer, fence vulkan.Fence) vulkan.Result {
	return vulkan.Result(C.vkinfer_submit(c[C.VkQueue](q), c[C.VkCommandBuffer](cb), c[C.VkFence](fence)))
}
