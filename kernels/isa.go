package kernels

// isa names a set of kernels. Each set extends the one below it, so the
// sets a CPU runs are those up to the best it supports (hostISA).
type isa uint8

const (
	// isaGo is the portable Go kernels: the reference, on every platform.
	isaGo isa = iota
	// isaAVX2 is the C kernels built for AVX2+FMA+F16C, for every op and
	// weight type that has one.
	isaAVX2
	// isaAVX512 is isaAVX2 with AVX-512 (F, BW, VL) kernels where a type
	// has them: the GEMM over packed weights.
	isaAVX512
	// isaVNNI is isaAVX512 with AVX-512 VNNI kernels for Q8_0 weights (one
	// input and four) and the packed GEMM.
	isaVNNI
)

func (v isa) String() string {
	switch v {
	case isaGo:
		return "go"
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	default:
		return "vnni"
	}
}

// needs names what the set requires beyond the one below, for tests to
// say why they skip it.
func (v isa) needs() string {
	switch v {
	case isaGo:
		return "nothing"
	case isaAVX2:
		return "a cgo amd64 build and AVX2, FMA and F16C"
	case isaAVX512:
		return "AVX-512 F, BW and VL"
	default:
		return "AVX-512 F, BW, VL and VNNI"
	}
}

// active is the set calls use: the best the CPU has, chosen once at start.
// Only tests change it, to a lower set, so each set is proven on a CPU
// that has better ones; they do so between calls, never during one.
var active = hostISA

// use reports the set a call runs: the Go reference when the caller asks
// for it (portable), active otherwise.
func use(portable bool) isa {
	if portable {
		return isaGo
	}
	return active
}
