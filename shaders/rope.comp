#version 450
// Rotates the first rope_dim dimensions of every head of n rows in place:
// adjacent pairs (normal) or pairs half a rotation apart (NeoX), pair i
// of the row for position pos0+b by (pos0+b)*freq[i]. Frequencies come
// from the host, computed in double precision.

layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer F { float freq[]; };

layout(push_constant) uniform P {
	uint n;
	uint heads;
	uint head_dim;
	uint rope_dim;
	uint neox;
	uint pos0;
	uint off;    // element offset of row 0
	uint stride; // elements between rows
} p;

void main() {
	uint half_ = p.rope_dim / 2;
	uint id = gl_GlobalInvocationID.x;
	uint b = gl_GlobalInvocationID.y;
	if (id >= half_ * p.heads || b >= p.n) {
		return;
	}
	uint h = id / half_, i = id % half_;
	uint base = p.off + b * p.stride + h * p.head_dim;
	uint j = 2 * i, k = 2 * i + 1;
	if (p.neox != 0u) {
		j = i;
		k = i + half_;
	}
	float theta = float(p.pos0 + b) * freq[i];
	float c = cos(theta), s = sin(theta);
	float a = d[base + j], e = d[base + k];
	d[base + j] = a * c - e * s;
	d[base + k] = a * s + e * c;
}
