// Workgroup reductions. Define WG (the workgroup size, a specialization
// constant, a power of two) before including. Every invocation must call
// these, in uniform control flow.
//
// USE_SUBGROUPS (default 1) selects subgroup operations; the shader's
// second build, NAME_nosg.spv (-DUSE_SUBGROUPS=0), takes the
// shared-memory tree and leaves the subgroup extensions out, so its
// SPIR-V declares no GroupNonUniform capability and is valid on devices
// without subgroup arithmetic. A specialization constant could not do
// that: the capabilities of dead code are still declared.
#ifndef USE_SUBGROUPS
#define USE_SUBGROUPS 1
#endif
#if USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float red[WG];

float wg_sum(float v) {
	barrier();
#if USE_SUBGROUPS
	v = subgroupAdd(v);
	if (subgroupElect()) {
		red[gl_SubgroupID] = v;
	}
	barrier();
	float s = 0.0;
	for (uint i = 0; i < gl_NumSubgroups; i++) {
		s += red[i];
	}
	return s;
#else
	red[gl_LocalInvocationID.x] = v;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (gl_LocalInvocationID.x < s) {
			red[gl_LocalInvocationID.x] += red[gl_LocalInvocationID.x + s];
		}
		barrier();
	}
	return red[0];
#endif
}

float wg_max(float v) {
	barrier();
#if USE_SUBGROUPS
	v = subgroupMax(v);
	if (subgroupElect()) {
		red[gl_SubgroupID] = v;
	}
	barrier();
	float m = red[0];
	for (uint i = 1; i < gl_NumSubgroups; i++) {
		m = max(m, red[i]);
	}
	return m;
#else
	red[gl_LocalInvocationID.x] = v;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (gl_LocalInvocationID.x < s) {
			red[gl_LocalInvocationID.x] = max(red[gl_LocalInvocationID.x], red[gl_LocalInvocationID.x + s]);
		}
		barrier();
	}
	return red[0];
#endif
}
