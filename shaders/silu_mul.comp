#version 450
// g = silu(g) * u, elementwise over count elements.

layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer U { float u[]; };

layout(push_constant) uniform P {
	uint count;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i < p.count) {
		float x = g[i];
		g[i] = x / (1.0 + exp(-x)) * u[i];
	}
}
