// Shared by every shader: GGUF type ids, raw weight access and the
// per-type dequantization of one element. Weights stay in their GGUF
// block layout; blocks are not 4-byte aligned, so they are read as bytes.

#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_EXT_control_flow_attributes : require

const uint T_F32 = 0;
const uint T_F16 = 1;
const uint T_Q4_0 = 2;
const uint T_Q4_1 = 3;
const uint T_Q5_0 = 6;
const uint T_Q5_1 = 7;
const uint T_Q8_0 = 8;
const uint T_Q2_K = 10;
const uint T_Q3_K = 11;
const uint T_Q4_K = 12;
const uint T_Q5_K = 13;
const uint T_Q6_K = 14;
const uint T_BF16 = 30;
const uint T_IQ4_NL = 20;
const uint T_IQ4_XS = 23;

// Elements per block and bytes per block of each type.
uint block_elems(uint t) {
	return (t == T_Q2_K || t == T_Q3_K || t == T_Q4_K || t == T_Q5_K || t == T_Q6_K || t == T_IQ4_XS) ? 256u : (t == T_F32 || t == T_F16 || t == T_BF16) ? 1u : 32u;
}

uint block_bytes(uint t) {
	switch (t) {
	case T_F32: return 4u;
	case T_F16: return 2u;
	case T_BF16: return 2u;
	case T_Q4_0: return 18u;
	case T_Q4_1: return 20u;
	case T_Q5_0: return 22u;
	case T_Q5_1: return 24u;
	case T_Q8_0: return 34u;
	case T_Q2_K: return 84u;
	case T_Q3_K: return 110u;
	case T_Q4_K: return 144u;
	case T_Q5_K: return 176u;
	case T_Q6_K: return 210u;
	case T_IQ4_NL: return 18u;
	case T_IQ4_XS: return 136u;
	}
	return 0u;
}

// row_bytes is the size of a row of n elements of type t.
uint row_bytes(uint t, uint n) {
	return n / block_elems(t) * block_bytes(t);
}
