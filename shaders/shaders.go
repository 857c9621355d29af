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

// SPIRV returns the compiled shader name (the .comp file's base name).
func SPIRV(name string) ([]byte, error) {
	b, err := spv.ReadFile(name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("shaders: no shader %q: %w", name, fs.ErrNotExist)
	}
	return b, nil
}

// Names lists the embedded shaders.
func Names() []string {
	entries, _ := spv.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".spv"))
	}
	sort.Strings(names)
	return names
}
