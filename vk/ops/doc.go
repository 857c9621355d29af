// Package ops runs the forward-pass operations of package shaders on a
// vk.Device: it uploads weights in their quantized form, builds one
// pipeline per shader and type, and records dispatches with their push
// constants into a vk.Step. An op is bound once (its descriptor sets are
// allocated when a model loads) and recorded every step.
//
// A matrix product binds through BindProduct, which runs a batch on the
// tiled matmul shader or on matvec; either sums an output in the same
// order, so a batch never changes a result's bits (TestBatchInvariance).
//
// Every op is tested against a CPU reference on random inputs, with the
// relative error bound of each type stated in ops_test.go.
package ops
