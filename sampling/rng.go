package sampling

// Uniform returns the draw for a given seed and step: a float32 in [0, 1)
// with 24 random bits. Devices compute draws with the same function.
func Uniform(seed, step uint64) float32 {
	z := seed + (step+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float32(z>>40) / (1 << 24)
}
