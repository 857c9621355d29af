#version 450
// dst += src, elementwise over count elements.

layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer S { float s[]; };

layout(push_constant) uniform P {
	uint count;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i < p.count) {
		d[i] += s[i];
	}
}
