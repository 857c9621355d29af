package shaders

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.spv
var spv embed.FS

// noSubgroups ends the name of a shader's build without subgroup
// operations (see reduce.glsl).
const noSubgroups = "_nosg"

// SPIRV returns the compiled shader name (the .comp file's base name).
// Without subgroups it returns the shader's build that declares no
// subgroup capability, where it has one: the shaders that reduce do; the
// others use no subgroup operations in either case.
func SPIRV(name string, subgroups bool) ([]byte, error) {
	if !subgroups {
		if b, err := spv.ReadFile(name + noSubgroups + ".spv"); err == nil {
			return b, nil
		}
	}
	b, err := spv.ReadFile(name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("shaders: no shader %q: %w", name, fs.ErrNotExist)
	}
	return b, nil
}

// Names lists the embedded SPIR-V builds (NAME and NAME_nosg).
func Names() []string {
	entries, _ := spv.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".spv"))
	}
	sort.Strings(names)
	return names
}
