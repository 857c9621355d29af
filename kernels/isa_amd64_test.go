//go:build cgo

package kernels

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestHostISA holds the C feature checks to Go's own CPUID reading, so a
// broken check cannot pass as a host that lacks the features (its
// kernels would then be skipped, not failed). x/sys/cpu reports no F16C;
// every CPU with AVX2 and FMA has it.
func TestHostISA(t *testing.T) {
	want := isaGo
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = isaAVX2
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
			want = isaAVX512
			if cpu.X86.HasAVX512VNNI {
				want = isaVNNI
				if cpu.X86.HasAVX512BF16 {
					want = isaBF16
				}
			}
		}
	}
	if hostISA != want {
		t.Errorf("C feature checks chose %s, CPUID says %s", hostISA, want)
	}
	t.Logf("host kernel set: %s", hostISA)
}
