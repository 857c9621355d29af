package kernels

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// isas lists every kernel set, lowest first.
var isas = []isa{isaGo, isaAVX2, isaAVX512, isaVNNI, isaBF16}

// proven records the sets tests forced and ran, and the ones they skipped
// for want of CPU features (or of the C build), for TestMain to name.
var proven struct {
	sync.Mutex
	ran, skipped map[isa]bool
}

// TestMain names the kernel sets the tests ran and skipped on this host,
// on stdout: `go test -v`, a failing run, and `go test` run inside
// kernels/ show it (`go test ./kernels/` prints only "ok" on a pass).
func TestMain(m *testing.M) {
	proven.ran, proven.skipped = map[isa]bool{}, map[isa]bool{}
	code := m.Run()
	var ran, skipped []string
	for _, v := range isas {
		if proven.ran[v] {
			ran = append(ran, v.String())
		}
		if proven.skipped[v] {
			skipped = append(skipped, fmt.Sprintf("%s (needs %s)", v, v.needs()))
		}
	}
	verdict := "proven"
	if code != 0 {
		verdict = "tested, with failures,"
	}
	if len(ran) > 0 {
		fmt.Printf("kernels: variants %s on this host: %s\n", verdict, strings.Join(ran, ", "))
	}
	if len(skipped) > 0 {
		fmt.Printf("kernels: variants skipped, not runnable here: %s\n", strings.Join(skipped, "; "))
	}
	os.Exit(code)
}

// forEachISA runs f in a subtest per kernel set, named for it, with that
// set forced (Portable false, as production calls run); a set the CPU
// lacks is skipped by name.
func forEachISA(t *testing.T, f func(t *testing.T, v isa)) {
	for _, v := range isas {
		t.Run(v.String(), func(t *testing.T) {
			proven.Lock()
			if v > hostISA {
				proven.skipped[v] = true
				proven.Unlock()
				t.Skipf("%s kernels not runnable here: they need %s", v, v.needs())
			}
			proven.ran[v] = true
			proven.Unlock()
			prev := active
			active = v
			t.Cleanup(func() { active = prev })
			f(t, v)
		})
	}
}

// TestForceISA: forcing a set changes what callers see, and the Portable
// option and portable arguments still pick the Go reference under any.
func TestForceISA(t *testing.T) {
	if active != hostISA {
		t.Fatalf("active set %s at start, host's best %s", active, hostISA)
	}
	forEachISA(t, func(t *testing.T, v isa) {
		if SIMD() != (v >= isaAVX2) || VNNI() != (v >= isaVNNI) {
			t.Errorf("forced %s: SIMD() = %v, VNNI() = %v", v, SIMD(), VNNI())
		}
		if use(true) != isaGo || use(false) != v {
			t.Errorf("forced %s: use(true) = %s, use(false) = %s", v, use(true), use(false))
		}
	})
	if active != hostISA {
		t.Errorf("active set %s after forcing, want %s back", active, hostISA)
	}
}

// TestUseKernelSet: every set the host runs can be chosen by name (and is
// then what KernelSet reports); unknown names and sets above the host's
// are refused with ErrKernelSet, leaving the active set as it was.
func TestUseKernelSet(t *testing.T) {
	t.Cleanup(func() { active = hostISA })
	for _, v := range isas {
		err := UseKernelSet(v.String())
		if v > hostISA {
			if !errors.Is(err, ErrKernelSet) || active == v {
				t.Errorf("%s above the host's %s: err %v, active %s", v, hostISA, err, active)
			}
			continue
		}
		if err != nil || KernelSet() != v.String() {
			t.Errorf("UseKernelSet(%s): %v, KernelSet() = %s", v, err, KernelSet())
		}
	}
	before := active
	if err := UseKernelSet("avx1024"); !errors.Is(err, ErrKernelSet) || active != before {
		t.Errorf("unknown set: err %v, active %s (was %s)", err, active, before)
	}
}
