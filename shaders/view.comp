#version 450
// o = columns off .. off+cols of each of the rows of a (rows of width
// elements): the parts of a fused projection, each as a matrix of its own.

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint rows;
	uint cols;
	uint width;
	uint off;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i >= p.rows * p.cols) {
		return;
	}
	uint r = i / p.cols, c = i % p.cols;
	o[i] = a[r * p.width + p.off + c];
}
