// Workgroup reductions. Define WG (the workgroup size, a specialization
// constant, a power of two) and SUBGROUPS (a specialization constant:
// 1 to use subgroup arithmetic, 0 for the shared-memory tree) before
// including. Every invocation must call these, in uniform control flow.

#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

shared float red[WG];

float wg_sum(float v) {
	barrier();
	if (SUBGROUPS == 1) {
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
	}
	red[gl_LocalInvocationID.x] = v;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (gl_LocalInvocationID.x < s) {
			red[gl_LocalInvocationID.x] += red[gl_LocalInvocationID.x + s];
		}
		barrier();
	}
	return red[0];
}

float wg_max(float v) {
	barrier();
	if (SUBGROUPS == 1) {
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
	}
	red[gl_LocalInvocationID.x] = v;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (gl_LocalInvocationID.x < s) {
			red[gl_LocalInvocationID.x] = max(red[gl_LocalInvocationID.x], red[gl_LocalInvocationID.x + s]);
		}
		barrier();
	}
	return red[0];
}
