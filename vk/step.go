package vk

import (
	"fmt"
	"math"
	"sort"
	"time"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"
)

// maxTimestamps bounds the dispatches one profiled Step can time.
const maxTimestamps = 4096

// Step records one forward step: every dispatch and barrier goes into one
// command buffer, submitted once with one fence wait. A Step is reused
// step after step; it belongs to one goroutine at a time.
type Step struct {
	d     *Device
	pool  vulkan.CommandPool
	cb    vulkan.CommandBuffer
	fence vulkan.Fence

	recording bool
	// push holds push constants on their way to C: cgo refuses pointers
	// into Go memory that itself holds Go pointers.
	push       *[32]uint32
	dispatches int
	// One-element slices for the binding, on the heap (see heapOf).
	sets   []vulkan.DescriptorSet
	fences []vulkan.Fence

	queries vulkan.QueryPool // nil unless profiling
	labels  []string         // the op each timestamp after the first ends
	times   []uint64
	last    []OpTime
}

// NewStep makes a command buffer and fence for a stream of steps.
func (d *Device) NewStep() (*Step, error) {
	s := &Step{d: d, push: new([32]uint32)}
	var pool vulkan.CommandPool
	if err := check(vulkan.CreateCommandPool(d.dev, &vulkan.CommandPoolCreateInfo{
		SType:            vulkan.StructureTypeCommandPoolCreateInfo,
		Flags:            vulkan.CommandPoolCreateFlags(vulkan.CommandPoolCreateResetCommandBufferBit),
		QueueFamilyIndex: uint32(d.Info.ComputeQueue),
	}, nil, &pool), "vkCreateCommandPool"); err != nil {
		return nil, err
	}
	s.pool = pool
	cbs := make([]vulkan.CommandBuffer, 1)
	if err := check(vulkan.AllocateCommandBuffers(d.dev, &vulkan.CommandBufferAllocateInfo{
		SType:              vulkan.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        s.pool,
		Level:              vulkan.CommandBufferLevelPrimary,
		CommandBufferCount: 1,
	}, cbs), "vkAllocateCommandBuffers"); err != nil {
		s.Close()
		return nil, err
	}
	s.cb = cbs[0]
	s.sets = make([]vulkan.DescriptorSet, 1)
	var fence vulkan.Fence
	if err := check(vulkan.CreateFence(d.dev, &vulkan.FenceCreateInfo{SType: vulkan.StructureTypeFenceCreateInfo}, nil, &fence), "vkCreateFence"); err != nil {
		s.Close()
		return nil, err
	}
	s.fence = fence
	s.fences = heapOf(fence)
	if d.Profiling() {
		var queries vulkan.QueryPool
		if err := check(vulkan.CreateQueryPool(d.dev, &vulkan.QueryPoolCreateInfo{
			SType:      vulkan.StructureTypeQueryPoolCreateInfo,
			QueryType:  vulkan.QueryTypeTimestamp,
			QueryCount: maxTimestamps,
		}, nil, &queries), "vkCreateQueryPool"); err != nil {
			s.Close()
			return nil, err
		}
		s.queries = queries
		s.times = make([]uint64, maxTimestamps)
	}
	return s, nil
}

// Close frees the step's command buffer, fence and queries.
func (s *Step) Close() {
	if s == nil || s.d == nil {
		return
	}
	dev := s.d.dev
	if s.queries != nil {
		vulkan.DestroyQueryPool(dev, s.queries, nil)
	}
	if s.fence != nil {
		vulkan.DestroyFence(dev, s.fence, nil)
	}
	if s.pool != nil {
		vulkan.DestroyCommandPool(dev, s.pool, nil)
	}
	s.d = nil
}

// Begin starts recording a new step.
func (s *Step) Begin() error {
	if s.recording {
		return fmt.Errorf("vk: Begin while a step is being recorded")
	}
	vulkan.ResetCommandBuffer(s.cb, 0)
	if err := check(shimBegin(s.cb), "vkBeginCommandBuffer"); err != nil {
		return err
	}
	s.recording = true
	s.dispatches = 0
	s.labels = s.labels[:0]
	if s.queries != nil {
		vulkan.CmdResetQueryPool(s.cb, s.queries, 0, maxTimestamps)
		vulkan.CmdWriteTimestamp(s.cb, vulkan.PipelineStageBottomOfPipeBit, s.queries, 0)
	}
	return nil
}

// Discard drops the step being recorded, if any, without submitting it,
// so that a caller whose recording failed halfway can Begin again.
func (s *Step) Discard() {
	if !s.recording {
		return
	}
	vulkan.ResetCommandBuffer(s.cb, 0)
	s.recording = false
	s.dispatches = 0
	s.labels = s.labels[:0]
}

// Dispatch records p over groups x*y*z with set bound and push as its
// push constants (len(push)*4 must equal the pipeline's Push size). It
// adds no barrier: call Barrier between dependent dispatches.
func (s *Step) Dispatch(p *Pipeline, set Set, push []uint32, x, y, z uint32) {
	vulkan.CmdBindPipeline(s.cb, vulkan.PipelineBindPointCompute, p.pipe)
	s.sets[0] = set.set
	vulkan.CmdBindDescriptorSets(s.cb, vulkan.PipelineBindPointCompute, p.layout, 0, 1, s.sets, 0, nil)
	if len(push) > 0 {
		n := copy(s.push[:], push)
		vulkan.CmdPushConstants(s.cb, p.layout, vulkan.ShaderStageFlags(vulkan.ShaderStageComputeBit), 0, uint32(4*n), unsafe.Pointer(s.push))
	}
	vulkan.CmdDispatch(s.cb, x, y, z)
	s.dispatches++
	s.stamp(p.Name)
}

func (s *Step) stamp(label string) {
	if s.queries == nil || len(s.labels)+1 >= maxTimestamps {
		return
	}
	s.labels = append(s.labels, label)
	vulkan.CmdWriteTimestamp(s.cb, vulkan.PipelineStageBottomOfPipeBit, s.queries, uint32(len(s.labels)))
}

// Barrier makes the writes of everything recorded so far visible to what
// is recorded next (and to the host after Submit).
func (s *Step) Barrier() {
	shimBarrier(s.cb)
}

// Copy records a buffer-to-buffer copy of src.Size bytes.
func (s *Step) Copy(src, dst Range) {
	shimCopy(s.cb, src.Buf.buf, dst.Buf.buf, src.Off, dst.Off, src.size())
	s.stamp("copy")
}

// maxUpdate is the most bytes one vkCmdUpdateBuffer may write.
const maxUpdate = 65536

// Update records a write of data (a multiple of 4 bytes) to dst at off (a
// multiple of 4). The command buffer keeps its own copy of data, so the
// small per-step inputs (token ids, positions) reach device-local memory
// inside the step that reads them, with no staging submit of their own.
func (s *Step) Update(dst *Buffer, off uint64, data []byte) error {
	if err := dst.span(off, len(data)); err != nil {
		return err
	}
	if off%4 != 0 || len(data)%4 != 0 {
		return fmt.Errorf("vk: update of %d bytes at offset %d: both must be multiples of 4", len(data), off)
	}
	for done := 0; done < len(data); done += maxUpdate {
		part := data[done:min(done+maxUpdate, len(data))]
		vulkan.CmdUpdateBuffer(s.cb, dst.buf, vulkan.DeviceSize(off+uint64(done)), vulkan.DeviceSize(len(part)), (*uint32)(unsafe.Pointer(&part[0])))
	}
	s.stamp("update")
	return nil
}

// Dispatches returns how many dispatches the current or last step holds.
func (s *Step) Dispatches() int { return s.dispatches }

// Submit ends recording, submits the step and waits for it to finish.
func (s *Step) Submit() error {
	if !s.recording {
		return fmt.Errorf("vk: Submit without Begin")
	}
	s.recording = false
	s.Barrier()
	if err := check(vulkan.EndCommandBuffer(s.cb), "vkEndCommandBuffer"); err != nil {
		return err
	}
	s.d.submitMu.Lock()
	r := shimSubmit(s.d.queue, s.cb, s.fence)
	s.d.submitMu.Unlock()
	s.d.submits.Add(1)
	if err := check(r, "vkQueueSubmit"); err != nil {
		return err
	}
	if err := check(vulkan.WaitForFences(s.d.dev, 1, s.fences, vulkan.True, math.MaxUint64), "vkWaitForFences"); err != nil {
		return err
	}
	if err := check(vulkan.ResetFences(s.d.dev, 1, s.fences), "vkResetFences"); err != nil {
		return err
	}
	if s.queries != nil {
		return s.readTimes()
	}
	return nil
}

// OpTime is the GPU time one op took in a step, summed over its dispatches.
type OpTime struct {
	Op    string
	Calls int
	Time  time.Duration
}

func (s *Step) readTimes() error {
	n := len(s.labels) + 1
	if err := check(vulkan.GetQueryPoolResults(s.d.dev, s.queries, 0, uint32(n), uint(8*n), unsafe.Pointer(&s.times[0]), 8,
		vulkan.QueryResultFlags(vulkan.QueryResult64Bit|vulkan.QueryResultWaitBit)), "vkGetQueryPoolResults"); err != nil {
		return err
	}
	mask := uint64(math.MaxUint64)
	if b := s.d.Info.TimestampBits; b < 64 {
		mask = 1<<b - 1
	}
	byOp := map[string]*OpTime{}
	s.last = s.last[:0]
	for i, l := range s.labels {
		ticks := (s.times[i+1] - s.times[i]) & mask
		t := byOp[l]
		if t == nil {
			s.last = append(s.last, OpTime{Op: l})
			t = &OpTime{Op: l}
			byOp[l] = t
		}
		t.Calls++
		t.Time += time.Duration(float64(ticks) * float64(s.d.Info.TimestampPeriod))
	}
	for i := range s.last {
		s.last[i] = *byOp[s.last[i].Op]
	}
	sort.Slice(s.last, func(i, j int) bool { return s.last[i].Time > s.last[j].Time })
	return nil
}

// Profile returns the last submitted step's GPU time per op, longest
// first, or nil when the device is not profiling.
func (s *Step) Profile() []OpTime { return s.last }
