// Package vulkan runs compute graphs on a Vulkan device: the executor of
// package compute for the shaders of package shaders, through vk/ops.
//
// Weights holds a model's tensors on the device, uploaded once in their
// stored type and shared by every executor (session) of the model. An
// Executor owns one sequence's KV cache and runs graphs on it: each graph
// is bound once (buffers, descriptor sets, pipelines) and recorded into
// one step per Run or RunSample, which the device runs in one submit:
// the batch goes in by updates inside the step and the result (or, when
// the sampler runs as the graph's tail, one token id) comes out of it.
// Its cache grows in place (Grow: larger buffers, the cells copied on the
// device), so a runner.Batcher's sequences keep their pages.
package vulkan
