package shaders

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// build is one SPIR-V file `make shaders` makes from a .comp source.
type build struct {
	name, src string
	flags     []string
}

// builds lists what `make shaders` builds: every source, and the
// subgroup-free variant of every source that includes reduce.glsl.
func builds(t *testing.T) []build {
	t.Helper()
	sources, err := filepath.Glob("*.comp")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no shader sources: %v", err)
	}
	var out []build
	for _, src := range sources {
		name := strings.TrimSuffix(src, ".comp")
		out = append(out, build{name: name, src: src})
		text, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(text, []byte("\n#include \"reduce.glsl\"")) {
			out = append(out, build{name: name + noSubgroups, src: src, flags: []string{"-DUSE_SUBGROUPS=0"}})
		}
	}
	return out
}

// TestEmbeddedSPIRVIsFresh rebuilds every shader and variant the way
// `make shaders` does and compares each with the embedded SPIR-V.
func TestEmbeddedSPIRVIsFresh(t *testing.T) {
	glslang, err := exec.LookPath("glslangValidator")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("glslangValidator is not installed (apt-get install glslang-tools)")
		}
		t.Skip("glslangValidator not installed")
	}
	bs := builds(t)
	var want []string
	for _, b := range bs {
		want = append(want, b.name)
	}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("embedded SPIR-V %v, want %v", got, want)
	}
	dir := t.TempDir()
	for _, b := range bs {
		out := filepath.Join(dir, b.name+".spv")
		args := append([]string{"-V", "--target-env", "vulkan1.2"}, b.flags...)
		cmd := exec.Command(glslang, append(args, "-o", out, b.src)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", b.name, err, msg)
			continue
		}
		fresh, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := spv.ReadFile(b.name + ".spv")
		if err != nil {
			t.Errorf("%s: %v", b.name, err)
			continue
		}
		if !bytes.Equal(embedded, fresh) {
			t.Errorf("%s.spv is stale: run `make shaders`", b.name)
		}
	}
}

// SPIR-V capability numbers (the SPIR-V spec's Capability enumeration).
const (
	opCapability = 17

	capShader                    = 1
	capInt64                     = 11
	capInt8                      = 39
	capGroupNonUniform           = 61
	capGroupNonUniformArithmetic = 63
	capGroupNonUniformBallot     = 64
	capStorageBuffer16BitAccess  = 4433
	capStorageBuffer8BitAccess   = 4448
)

// capabilities returns the operands of code's OpCapability instructions.
func capabilities(t *testing.T, name string, code []byte) []uint32 {
	t.Helper()
	if len(code) < 20 || len(code)%4 != 0 || binary.LittleEndian.Uint32(code) != 0x07230203 {
		t.Fatalf("%s: not little-endian SPIR-V", name)
	}
	var caps []uint32
	for i := 5 * 4; i < len(code); {
		w := binary.LittleEndian.Uint32(code[i:])
		n := int(w >> 16)
		if n == 0 || i+4*n > len(code) {
			t.Fatalf("%s: malformed instruction at byte %d", name, i)
		}
		if w&0xffff == opCapability {
			caps = append(caps, binary.LittleEndian.Uint32(code[i+4:]))
		}
		i += 4 * n
	}
	return caps
}

// TestCapabilities holds every build to the capabilities vk.Info.Usable
// requires of a device, and the subgroup-free builds to none of the
// GroupNonUniform family, so they stay valid where subgroup arithmetic is
// missing. matmul has one build for both kinds of device, so it too
// declares none.
func TestCapabilities(t *testing.T) {
	required := []uint32{capShader, capInt64, capInt8, capStorageBuffer16BitAccess, capStorageBuffer8BitAccess}
	subgroup := []uint32{capGroupNonUniform, capGroupNonUniformArithmetic, capGroupNonUniformBallot}
	for _, name := range Names() {
		code, err := spv.ReadFile(name + ".spv")
		if err != nil {
			t.Fatal(err)
		}
		nosg := strings.HasSuffix(name, noSubgroups) || name == "matmul"
		for _, c := range capabilities(t, name, code) {
			switch {
			case slices.Contains(required, c):
			case slices.Contains(subgroup, c) && !nosg:
			default:
				t.Errorf("%s declares capability %d, which a usable device need not have", name, c)
			}
		}
	}
	for _, tc := range []struct {
		name      string
		subgroups bool
		want      string
	}{
		{"matvec", true, "matvec"},
		{"matvec", false, "matvec_nosg"},
		{"matmul", false, "matmul"},
		{"rope", false, "rope"}, // no subgroup operations in either build
	} {
		got, err := SPIRV(tc.name, tc.subgroups)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := spv.ReadFile(tc.want + ".spv")
		if !bytes.Equal(got, want) {
			t.Errorf("SPIRV(%q, %v) is not %s.spv", tc.name, tc.subgroups, tc.want)
		}
	}
}

func TestSPIRVUnknown(t *testing.T) {
	if _, err := SPIRV("no-such-shader", true); err == nil {
		t.Fatal("no error for an unknown shader")
	}
}
