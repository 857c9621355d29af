// Package shaders holds vkinfer's GLSL compute shaders and their SPIR-V,
// built by `make shaders` (glslangValidator -V --target-env vulkan1.2) and
// embedded here, so building the Go code needs no glslang. The .comp and
// .glsl files are the truth; a test rebuilds every shader and fails when
// an embedded .spv is stale.
package shaders
