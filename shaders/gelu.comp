#version 450
// x = GELU(x) elementwise, as ggml computes it (gelu.glsl).

#extension GL_GOOGLE_include_directive : require

#include "round.glsl"
#include "gelu.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };

layout(push_constant) uniform P {
	uint count;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i < p.count) {
		d[i] = gelu_ggml(d[i]);
	}
}
