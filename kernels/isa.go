package kernels

import (
	"errors"
	"fmt"
	"strings"
)

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
	// has them: the GEMM over packed weights (gemm_amd64.c) and the tile
	// attention for heads of a multiple of 16 (attention_tile.h).
	isaAVX512
	// isaVNNI is isaAVX512 with VNNI kernels for the quantized types but
	// IQ4_XS, and for F16 (one input and four), equal to the AVX2 kernels'
	// results bit for bit, and the packed GEMM's.
	isaVNNI
	// isaBF16 is isaVNNI with an AVX512-BF16 kernel for BF16 weights.
	isaBF16
)

func (v isa) String() string {
	switch v {
	case isaGo:
		return "go"
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	case isaVNNI:
		return "vnni"
	default:
		return "bf16"
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
	case isaVNNI:
		return "AVX-512 F, BW, VL and VNNI"
	default:
		return "AVX512-BF16"
	}
}

// active is the set calls use: the best the CPU has, chosen once at start.
// Tests change it to a lower set, so each set is proven on a CPU that has
// better ones, and UseKernelSet does for benchmarks; both between calls,
// never during one.
var active = hostISA

// ErrKernelSet is returned by UseKernelSet for a set it does not know or
// this CPU cannot run.
var ErrKernelSet = errors.New("kernels: kernel set not available")

// KernelSet names the kernel set calls use: "go", "avx2", "avx512"
// (AVX-512 F, BW and VL: the packed GEMM), "vnni" (AVX-512 with VNNI) or
// "bf16" (vnni with AVX512-BF16).
func KernelSet() string { return active.String() }

// UseKernelSet makes calls use the named set (as KernelSet names them),
// which must be one this CPU runs: a benchmark compares a lower set with
// the best on one machine, as a CPU without the better one would run. Call
// it before any kernel runs (at start), never during a call.
func UseKernelSet(name string) error {
	var names []string
	for v := isaGo; v <= hostISA; v++ {
		if v.String() == name {
			active = v
			return nil
		}
		names = append(names, v.String())
	}
	return fmt.Errorf("%w: %q (this CPU runs %s)", ErrKernelSet, name, strings.Join(names, ", "))
}

// use reports the set a call runs: the Go reference when the caller asks
// for it (portable), active otherwise.
func use(portable bool) isa {
	if portable {
		return isaGo
	}
	return active
}
