#version 450
// Samples one token from the logits on the device, with the chain of
// model/sampling (the definition this must agree with): penalties,
// greedy argmax at temperature 0, else top-k, top-p over the untempered
// softmax, min-p, the tempered softmax over what is left, and a draw with
// the seeded splitmix64 uniform of sampling.Uniform(seed, step).
//
// One workgroup of 256. Candidates are the CMAX best tokens found by a
// radix select on order-preserving keys, then sorted (bitonic) by logit
// and id. When the chain needs more than CMAX candidates (top-k off or
// above CMAX, and neither top-p nor min-p cuts inside the first CMAX),
// the overflow flag asks the host to sample those logits itself.
//
// With use_mask, a grammar's bitset of allowed tokens (bit i of word
// i/32) sets every other logit to -Inf after the penalties, as
// sampling.Sampler does; top-k then counts allowed tokens only, so that
// masked ones are never candidates.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
#include "reduce.glsl"

const uint CMAX = 1024;
const uint FLAG_OVERFLOW = 1;
const uint FLAG_DREW = 2;

layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) readonly buffer Pen { uint pen[]; }; // (token, count) pairs
layout(std430, binding = 2) buffer Work { float work[]; };       // penalised logits
layout(std430, binding = 3) writeonly buffer Out { uint res[]; }; // id, n, flags, 0, ids[CMAX], probs[CMAX]
layout(std430, binding = 4) readonly buffer Mask { uint mask[]; }; // allowed tokens, when use_mask

layout(push_constant) uniform P {
	uint vocab;
	uint npen;
	uint top_k;
	float top_p;
	float min_p;
	float temp;
	float repeat_penalty;
	float freq_penalty;
	float presence_penalty;
	uint seed_lo;
	uint seed_hi;
	uint step_lo;
	uint step_hi;
	uint want_cands; // 1: write the candidate list
	uint use_mask;
} p;

shared uint skey[CMAX];
shared uint sid[CMAX];
shared uint hist[256];
shared uint tie_base[WG];
shared float rv[WG];
shared uint ri[WG];
shared uint s_prefix, s_remaining, s_count, s_allowed;

// key maps a float to a uint of the same order; NaN sorts lowest.
uint key(float x) {
	if (isnan(x)) {
		return 0u;
	}
	uint b = floatBitsToUint(x);
	return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

float unkey(uint k) {
	return uintBitsToFloat((k & 0x80000000u) != 0u ? (k & 0x7fffffffu) : ~k);
}

float uniform01(uint64_t seed, uint64_t step) {
	uint64_t z = seed + (step + 1ul) * 0x9e3779b97f4a7c15ul;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ul;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebul;
	z ^= z >> 31;
	return float(uint(z >> 40)) / 16777216.0;
}

// select finds the threshold key T and how many tokens with key T (the
// lowest ids) complete the want best; results in s_prefix, s_remaining.
void select_best(uint want) {
	uint tid = gl_LocalInvocationID.x;
	uint prefix = 0u, mask = 0u, remaining = want;
	for (int pass = 0; pass < 4; pass++) {
		uint shift = 24u - 8u * uint(pass);
		for (uint b = tid; b < 256u; b += WG) {
			hist[b] = 0u;
		}
		barrier();
		for (uint i = tid; i < p.vocab; i += WG) {
			uint k = key(work[i]);
			if ((k & mask) == prefix) {
				atomicAdd(hist[(k >> shift) & 255u], 1u);
			}
		}
		barrier();
		if (tid == 0u) {
			uint cum = 0u;
			int d = 255;
			for (; d > 0; d--) {
				if (cum + hist[d] >= remaining) {
					break;
				}
				cum += hist[d];
			}
			s_remaining = remaining - cum;
			s_prefix = prefix | (uint(d) << shift);
		}
		barrier();
		remaining = s_remaining;
		prefix = s_prefix;
		mask |= 255u << shift;
	}
}

void main() {
	uint tid = gl_LocalInvocationID.x;

	// Penalties on a copy of the logits; the tokens of pen are distinct.
	for (uint i = tid; i < p.vocab; i += WG) {
		work[i] = logits[i];
	}
	memoryBarrierBuffer();
	barrier();
	for (uint j = tid; j < p.npen; j += WG) {
		uint t = pen[2 * j];
		if (t < p.vocab) {
			float l = work[t];
			l = l > 0.0 ? l / p.repeat_penalty : l * p.repeat_penalty;
			work[t] = l - float(pen[2 * j + 1]) * p.freq_penalty - p.presence_penalty;
		}
	}
	if (tid == 0u) {
		s_allowed = p.vocab;
	}
	if (p.use_mask != 0u) {
		memoryBarrierBuffer();
		barrier(); // the penalties' writes first
		uint mine = 0u;
		for (uint i = tid; i < p.vocab; i += WG) {
			if (((mask[i >> 5] >> (i & 31u)) & 1u) == 0u) {
				work[i] = -1.0 / 0.0;
			} else {
				mine++;
			}
		}
		float n = wg_sum(float(mine)); // exact: a vocabulary is far below 2^24
		if (tid == 0u) {
			s_allowed = uint(n);
		}
	}
	memoryBarrierBuffer();
	barrier();

	// Argmax, lowest id on ties; NaN never wins.
	float bv = -1.0 / 0.0;
	uint bi = 0xffffffffu;
	for (uint i = tid; i < p.vocab; i += WG) {
		float v = work[i];
		if (v > bv || (v == bv && i < bi)) {
			bv = v;
			bi = i;
		}
	}
	rv[tid] = bv;
	ri[tid] = bi;
	barrier();
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (tid < s) {
			float ov = rv[tid + s];
			uint oi = ri[tid + s];
			if (ov > rv[tid] || (ov == rv[tid] && oi < ri[tid])) {
				rv[tid] = ov;
				ri[tid] = oi;
			}
		}
		barrier();
	}
	float top = rv[0];
	uint max_id = ri[0] == 0xffffffffu ? 0u : ri[0];
	if (p.temp == 0.0) {
		if (tid == 0u) {
			res[0] = max_id;
			res[1] = 1u;
			res[2] = 0u;
			res[4] = max_id;
			res[4 + CMAX] = floatBitsToUint(1.0);
		}
		return;
	}

	// The top-k set and the normaliser z of the untempered softmax.
	uint allowed = s_allowed;
	bool limited = p.top_k > 0u && p.top_k < allowed;
	uint k_all = limited ? p.top_k : allowed;
	float z = 0.0;
	if (limited) {
		select_best(k_all);
		uint t = s_prefix, ties = s_remaining;
		for (uint i = tid; i < p.vocab; i += WG) {
			if (key(work[i]) > t) {
				z += exp(work[i] - top);
			}
		}
		z = wg_sum(z) + float(ties) * exp(unkey(t) - top);
	} else {
		for (uint i = tid; i < p.vocab; i += WG) {
			if (!isnan(work[i])) {
				z += exp(work[i] - top);
			}
		}
		z = wg_sum(z);
	}

	// Collect the best want tokens: all above T, then ties by lowest id.
	uint want = min(k_all, CMAX);
	bool truncated = want < k_all;
	select_best(want);
	uint t = s_prefix, need = s_remaining;
	if (tid == 0u) {
		s_count = 0u;
	}
	barrier();
	for (uint i = tid; i < p.vocab; i += WG) {
		uint k = key(work[i]);
		if (k > t) {
			uint slot = atomicAdd(s_count, 1u);
			skey[slot] = k;
			sid[slot] = i;
		}
	}
	uint chunk = (p.vocab + WG - 1u) / WG;
	uint lo = min(tid * chunk, p.vocab), hi = min(lo + chunk, p.vocab);
	uint mine = 0u;
	for (uint i = lo; i < hi; i++) {
		if (key(work[i]) == t) {
			mine++;
		}
	}
	tie_base[tid] = mine;
	barrier();
	if (tid == 0u) {
		uint run = 0u;
		for (uint j = 0u; j < WG; j++) {
			uint c = tie_base[j];
			tie_base[j] = run;
			run += c;
		}
	}
	barrier();
	uint above = s_count;
	uint slot = tie_base[tid];
	for (uint i = lo; i < hi && slot < need; i++) {
		if (key(work[i]) == t) {
			skey[above + slot] = t;
			sid[above + slot] = i;
			slot++;
		}
	}
	for (uint j = want + tid; j < CMAX; j += WG) {
		skey[j] = 0u;
		sid[j] = 0xffffffffu;
	}
	barrier();

	// Bitonic sort: logit descending, then id ascending.
	for (uint size = 2u; size <= CMAX; size <<= 1) {
		for (uint stride = size >> 1; stride > 0u; stride >>= 1) {
			for (uint j = tid; j < CMAX; j += WG) {
				uint o = j ^ stride;
				if (o > j) {
					uint ka = skey[j], kb = skey[o], ia = sid[j], ib = sid[o];
					bool b_first = kb > ka || (kb == ka && ib < ia);
					bool a_first = ka > kb || (ka == kb && ia < ib);
					if ((j & size) == 0u ? b_first : a_first) {
						skey[j] = kb;
						skey[o] = ka;
						sid[j] = ib;
						sid[o] = ia;
					}
				}
			}
			barrier();
		}
	}

	// Top-p and min-p keep a prefix of that order; then the draw.
	if (tid == 0u) {
		uint n = want;
		bool cut = false;
		if (p.top_p < 1.0) {
			float cum = 0.0;
			for (uint i = 0u; i < want; i++) {
				cum += exp(unkey(skey[i]) - top) / z;
				if (cum >= p.top_p) {
					n = i + 1u;
					cut = true;
					break;
				}
			}
		}
		if (p.min_p > 0.0) {
			float floor_ = top + log(p.min_p);
			uint m = 0u;
			while (m < n && unkey(skey[m]) >= floor_) {
				m++;
			}
			if (m < n) {
				cut = true;
			}
			n = max(m, 1u);
		}
		uint flags = 0u;
		if (truncated && !cut) {
			flags |= FLAG_OVERFLOW;
		}
		float total = 0.0;
		float inv = 1.0 / p.temp;
		for (uint i = 0u; i < n; i++) {
			total += exp((unkey(skey[i]) - top) * inv);
		}
		uint id = sid[0];
		if (n > 1u) {
			flags |= FLAG_DREW;
			float u = uniform01(uint64_t(p.seed_lo) | (uint64_t(p.seed_hi) << 32), uint64_t(p.step_lo) | (uint64_t(p.step_hi) << 32));
			float cum = 0.0;
			id = sid[n - 1u];
			for (uint i = 0u; i < n; i++) {
				cum += exp((unkey(skey[i]) - top) * inv) / total;
				if (u < cum) {
					id = sid[i];
					break;
				}
			}
		}
		res[0] = id;
		res[1] = n;
		res[2] = flags;
		if (p.want_cands != 0u) {
			for (uint i = 0u; i < n; i++) {
				res[4 + i] = sid[i];
				res[4 + CMAX + i] = floatBitsToUint(exp((unkey(skey[i]) - top) * inv) / total);
			}
		}
	}
}
