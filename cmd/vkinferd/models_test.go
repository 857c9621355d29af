package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/ipc"
)

// TestModelsInfo: the models op reports each file's architecture, context
// length, parameter count and tensor types from its header, for a model
// of one type, a quant mix and a refused model, which keeps its reason;
// an unreadable file has only its name, size and reason.
func TestModelsInfo(t *testing.T) {
	dir := t.TempDir()
	for name, rel := range map[string]string{
		"stories260K":   "llama/stories260K.gguf",
		"llama3-Q3_K_M": "arch/llama3-Q3_K_M.gguf",
	} {
		if err := os.Symlink(testmodels.Model(t, rel), filepath.Join(dir, name+".gguf")); err != nil {
			t.Fatal(err)
		}
	}
	src, err := gguf.Open(testmodels.Model(t, "arch/llama3-Q3_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	b := gguf.FromFile(src)
	b.SetString("llama.rope.scaling.type", "yarn")
	err = b.WriteFile(filepath.Join(dir, "yarn.gguf"))
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.gguf"), []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	size := func(name string) int64 {
		st, err := os.Stat(filepath.Join(dir, name+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	q3km := []ipc.TensorTypes{
		{Type: "Q3_K", Tensors: 16, Bytes: 591360},
		{Type: "Q4_K", Tensors: 10, Bytes: 460800},
		{Type: "Q6_K", Tensors: 1, Bytes: 107520},
		{Type: "Q5_K", Tensors: 2, Bytes: 22528},
		{Type: "F32", Tensors: 10, Bytes: 9280},
	}
	want := map[string]ipc.ModelInfo{
		"junk": {Capabilities: []string{}, Types: []ipc.TensorTypes{}, Refused: "gguf: " + filepath.Join(dir, "junk.gguf") +
			": gguf: malformed file: at byte 4: version: need 4 bytes, 0 left (truncated file?)"},
		"llama3-Q3_K_M": {Capabilities: []string{"generate", "embed"}, Arch: "llama", ContextLength: 512, Parameters: 2361616,
			Types: q3km},
		"stories260K": {Capabilities: []string{"generate", "embed"}, Arch: "llama", ContextLength: 2048, Parameters: 292800,
			Types: []ipc.TensorTypes{{Type: "F32", Tensors: 48, Bytes: 1171200}}},
		"yarn": {Capabilities: []string{"generate", "embed"}, Arch: "llama", ContextLength: 512, Parameters: 2361616,
			Types: q3km, Refused: `llama: model: unsupported: llama.rope.scaling.type = "yarn" (implemented: ["none" "linear"])`},
	}
	d := startDaemon(t, dir, socketPath(t))
	got, err := d.client().Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d models, want %d: %+v", len(got), len(want), got)
	}
	for _, m := range got {
		w := want[m.Name]
		w.Name, w.Path, w.Size = m.Name, filepath.Join(dir, m.Name+".gguf"), size(m.Name)
		if !reflect.DeepEqual(m, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", m.Name, m, w)
		}
	}
}
