package vk

import (
	"encoding/binary"
	"fmt"

	vulkan "github.com/vulkan-go/vulkan"
)

// Pipeline is a compute pipeline: one shader with its storage-buffer
// bindings (0..Bindings-1, all in set 0) and push-constant block.
type Pipeline struct {
	Name     string
	Bindings int
	Push     uint32 // push-constant bytes

	d         *Device
	module    vulkan.ShaderModule
	setLayout vulkan.DescriptorSetLayout
	layout    vulkan.PipelineLayout
	pipe      vulkan.Pipeline
}

// NewPipeline builds a compute pipeline from SPIR-V. spec gives the
// values of specialization constants 0, 1, ... (each a 32-bit value:
// workgroup size, quant type, subgroup size and the like).
func (d *Device) NewPipeline(name string, spirv []byte, bindings int, push uint32, spec ...uint32) (*Pipeline, error) {
	if len(spirv) == 0 || len(spirv)%4 != 0 || binary.LittleEndian.Uint32(spirv) != 0x07230203 {
		return nil, fmt.Errorf("vk: pipeline %s: not SPIR-V", name)
	}
	if push > d.Info.MaxPushConstants {
		return nil, fmt.Errorf("vk: pipeline %s: %d push-constant bytes, the device allows %d", name, push, d.Info.MaxPushConstants)
	}
	p := &Pipeline{Name: name, Bindings: bindings, Push: push, d: d}
	code := make([]uint32, len(spirv)/4)
	for i := range code {
		code[i] = binary.LittleEndian.Uint32(spirv[4*i:])
	}
	var module vulkan.ShaderModule
	if err := check(vulkan.CreateShaderModule(d.dev, &vulkan.ShaderModuleCreateInfo{
		SType:    vulkan.StructureTypeShaderModuleCreateInfo,
		CodeSize: uint(len(spirv)),
		PCode:    code,
	}, nil, &module), "vkCreateShaderModule "+name); err != nil {
		return nil, err
	}
	p.module = module
	if bindings > 32 || len(spec) > 16 {
		p.Close()
		return nil, fmt.Errorf("vk: pipeline %s: %d bindings and %d specialization constants, at most 32 and 16", name, bindings, len(spec))
	}
	setLayout, layout, pipe, r := shimCreatePipeline(d.dev, d.cache, p.module, bindings, push, spec)
	p.setLayout, p.layout, p.pipe = setLayout, layout, pipe
	if err := check(r, "vkCreateComputePipelines "+name); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close destroys the pipeline.
func (p *Pipeline) Close() {
	if p == nil || p.d == nil {
		return
	}
	dev := p.d.dev
	if p.pipe != nil {
		vulkan.DestroyPipeline(dev, p.pipe, nil)
	}
	if p.layout != nil {
		vulkan.DestroyPipelineLayout(dev, p.layout, nil)
	}
	if p.setLayout != nil {
		vulkan.DestroyDescriptorSetLayout(dev, p.setLayout, nil)
	}
	if p.module != nil {
		vulkan.DestroyShaderModule(dev, p.module, nil)
	}
	p.d = nil
}

// Sets hands out descriptor sets: a model allocates every set it binds
// from one Sets when it loads and frees them all together. It grows by
// whole descriptor pools as sets are bound.
type Sets struct {
	d     *Device
	pools []vulkan.DescriptorPool
	sets  int // sets taken from the newest pool
	bufs  int // buffers taken from the newest pool
}

// Set is a descriptor set bound to one pipeline's layout.
type Set struct {
	set vulkan.DescriptorSet
	p   *Pipeline
}

const (
	setsPerPool = 256
	bufsPerPool = 1024
)

// NewSets returns an empty Sets of d.
func (d *Device) NewSets() *Sets { return &Sets{d: d} }

func (s *Sets) grow() error {
	pool, r := shimCreateDescriptorPool(s.d.dev, setsPerPool, bufsPerPool)
	if err := check(r, "vkCreateDescriptorPool"); err != nil {
		return err
	}
	s.pools = append(s.pools, pool)
	s.sets, s.bufs = 0, 0
	return nil
}

// Bind allocates a set for p with ranges bound to bindings 0, 1, ...
func (s *Sets) Bind(p *Pipeline, ranges ...Range) (Set, error) {
	if len(ranges) != p.Bindings {
		return Set{}, fmt.Errorf("vk: pipeline %s takes %d buffers, %d given", p.Name, p.Bindings, len(ranges))
	}
	for i, r := range ranges {
		if r.Buf == nil || r.Buf.buf == nil || r.Off > r.Buf.size || r.size() > r.Buf.size-r.Off {
			return Set{}, fmt.Errorf("vk: pipeline %s binding %d: range outside its buffer", p.Name, i)
		}
		if r.size() > s.d.Info.MaxStorageBufferRange {
			return Set{}, fmt.Errorf("vk: pipeline %s binding %d: %d bytes exceed the device's storage range of %d", p.Name, i, r.size(), s.d.Info.MaxStorageBufferRange)
		}
	}
	if len(s.pools) == 0 || s.sets+1 > setsPerPool || s.bufs+len(ranges) > bufsPerPool {
		if err := s.grow(); err != nil {
			return Set{}, err
		}
	}
	set, r := shimBindSet(s.d.dev, s.pools[len(s.pools)-1], p.setLayout, ranges)
	if err := check(r, "vkAllocateDescriptorSets "+p.Name); err != nil {
		return Set{}, err
	}
	s.sets++
	s.bufs += len(ranges)
	return Set{set: set, p: p}, nil
}

// Close frees every set.
func (s *Sets) Close() {
	if s == nil {
		return
	}
	for _, p := range s.pools {
		vulkan.DestroyDescriptorPool(s.d.dev, p, nil)
	}
	s.pools = nil
}
