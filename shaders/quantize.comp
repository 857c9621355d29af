#version 450
// Rounds the inputs of a matrix product as llama.cpp's CPU backend (and
// package kernels) does before a product with weights of a given type, and
// writes each value as the float it stands for (q·d): the matvec's float
// dot product with the weights then equals ggml's integer one to float32
// noise. Modes (push constant):
//   1, Q8_0 (Q4_0, Q5_0, Q8_0 weights): per 32 values d = max|x|/127,
//      q = x·(1/d) rounded to nearest even, d then rounded to f16 as
//      block_q8_0 stores it (q is that of the f32 d);
//   2, Q8_K (K-quant weights): per 256 values, m the value of largest
//      magnitude (the first), iscale = -127/m, q = min(roundEven(iscale·x),
//      127), d = 1/iscale;
//   3, BF16 weights: x rounded to bf16.
// One invocation per block (per value for BF16).
#extension GL_GOOGLE_include_directive : require
#include "round.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform P {
	uint cols;   // values per input, a multiple of the mode's block
	uint n;      // inputs
	uint stride; // elements between inputs, in x and o alike
	uint mode;
} p;

void main() {
	uint block = p.mode == 1u ? 32u : p.mode == 2u ? 256u : 1u;
	uint per = p.cols / block;
	uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64;
	if (id >= per * p.n) {
		return;
	}
	uint base = (id / per) * p.stride + (id % per) * block;
	if (p.mode == 1u) {
		float amax = 0.0;
		for (uint j = 0; j < 32; j++) {
			amax = max(amax, abs(x[base + j]));
		}
		float d = amax / 127.0;
		float id_ = d != 0.0 ? 1.0 / d : 0.0;
		float dh = round_f16(d);
		for (uint j = 0; j < 32; j++) {
			o[base + j] = roundEven(x[base + j] * id_) * dh;
		}
	} else if (p.mode == 2u) {
		float amax = 0.0, m = 0.0;
		for (uint j = 0; j < 256; j++) {
			float v = x[base + j];
			if (abs(v) > amax) {
				amax = abs(v);
				m = v;
			}
		}
		float iscale = amax != 0.0 ? -127.0 / m : 0.0;
		float d = amax != 0.0 ? 1.0 / iscale : 0.0;
		for (uint j = 0; j < 256; j++) {
			o[base + j] = min(roundEven(iscale * x[base + j]), 127.0) * d;
		}
	} else {
		o[base] = round_bf16(x[base]);
	}
}
