#version 450
// x = GELU(x) elementwise, in the tanh form ggml computes for BERT.

layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };

layout(push_constant) uniform P {
	uint count;
} p;

void main() {
	uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256;
	if (i < p.count) {
		float x = d[i];
		// tanh(y) = 1 - 2/(exp(2y)+1), which stays finite for large |y|.
		float y = 0.7978845608028654 * x * (1.0 + 0.044715 * x * x);
		float t = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
		d[i] = 0.5 * x * (1.0 + t);
	}
}
