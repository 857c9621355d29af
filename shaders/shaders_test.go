package shaders

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbeddedSPIRVIsFresh rebuilds every shader the way `make shaders`
// does and compares it with the embedded SPIR-V.
func TestEmbeddedSPIRVIsFresh(t *testing.T) {
	glslang, err := exec.LookPath("glslangValidator")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("glslangValidator is not installed (apt-get install glslang-tools)")
		}
		t.Skip("glslangValidator not installed")
	}
	sources, err := filepath.Glob("*.comp")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no shader sources: %v", err)
	}
	if got, want := len(Names()), len(sources); got != want {
		t.Errorf("%d embedded .spv files for %d .comp sources", got, want)
	}
	dir := t.TempDir()
	for _, src := range sources {
		name := strings.TrimSuffix(src, ".comp")
		out := filepath.Join(dir, name+".spv")
		cmd := exec.Command(glslang, "-V", "--target-env", "vulkan1.2", "-o", out, src)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", src, err, msg)
			continue
		}
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SPIRV(name)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s.spv is stale: run `make shaders`", name)
		}
	}
}

func TestSPIRVUnknown(t *testing.T) {
	if _, err := SPIRV("no-such-shader"); err == nil {
		t.Fatal("no error for an unknown shader")
	}
}
