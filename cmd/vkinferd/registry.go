package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/ipc"
)

// ErrUnknownModel is returned for a name no models directory holds.
var ErrUnknownModel = errors.New("unknown model")

// ErrBadName is returned for a model name that is not a plain name.
var ErrBadName = errors.New("invalid model name")

// ModelFile is one .gguf file found in a models directory.
type ModelFile struct {
	Name string // file stem, the name requests use
	Path string
	Size int64
	// Arch is general.architecture as read at the last rescan, and
	// Refused why the model cannot run: its header could not be read, or
	// it asks for something vkinfer does not implement (a tensor, a
	// metadata key, a quant type). Loading reads the file again, so a file
	// changed since the rescan is still judged by itself.
	Arch    string
	Refused error
	// ContextLength, Parameters and Types describe the model for `vkctl
	// models`, read from the header at the same rescan.
	ContextLength uint64
	Parameters    uint64
	Types         []ipc.TensorTypes
}

// Registry maps model names to files in the configured directories. The
// first directory that holds a name wins. Rescan replaces the map
// atomically, so lookups never see a half-scanned state.
type Registry struct {
	dirs []string

	mu     sync.RWMutex
	models map[string]ModelFile
}

// NewRegistry returns a registry over dirs; call Rescan to fill it.
func NewRegistry(dirs ...string) *Registry {
	return &Registry{dirs: dirs, models: map[string]ModelFile{}}
}

// Rescan reads the directories again. A missing directory is skipped (the
// default one may not exist yet); an unreadable one is an error, and the
// previous map is kept.
func (r *Registry) Rescan() error {
	found := map[string]ModelFile{}
	for _, dir := range r.dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("models dir %s: %w", dir, err)
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".gguf")
			if !ok || name == "" || CheckName(name) != nil {
				continue
			}
			if _, dup := found[name]; dup {
				continue
			}
			path := filepath.Join(dir, e.Name())
			st, err := os.Stat(path) // follows symlinks, as users link models in
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			mf := ModelFile{Name: name, Path: path, Size: st.Size()}
			inspect(&mf)
			found[name] = mf
		}
	}
	r.mu.Lock()
	r.models = found
	r.mu.Unlock()
	return nil
}

// inspect reads a GGUF file's header into mf: its architecture, context
// length, parameter count and tensor types, and, for an architecture
// vkinfer runs, whether the model loads: what it would refuse at load is
// known at the rescan, so `vkctl models` can say why. Tensor infos are in
// the header and loading maps the weights without reading them, so this
// stays cheap.
func inspect(mf *ModelFile) {
	f, err := gguf.Open(mf.Path)
	if err != nil {
		mf.Refused = err
		return
	}
	defer f.Close()
	mf.Parameters, mf.Types = tensorSummary(f.Tensors)
	if mf.Arch, err = f.String("general.architecture"); err != nil {
		mf.Refused = err
		return
	}
	// A missing or odd context length is not a reason to refuse: loading
	// judges the keys the architecture needs.
	if n, err := f.Uint(mf.Arch + ".context_length"); err == nil {
		mf.ContextLength = n
	}
	mf.Refused = vet(f, mf.Arch)
}

// tensorSummary returns the elements of all tensors and, per tensor type,
// how many tensors and bytes it has, most bytes first (the quant that
// dominates the file), ties by name.
func tensorSummary(tensors []gguf.TensorInfo) (uint64, []ipc.TensorTypes) {
	var params uint64
	byType := map[gguf.Type]*ipc.TensorTypes{}
	for i := range tensors {
		t := &tensors[i]
		params += uint64(t.Elements())
		tt, ok := byType[t.Type]
		if !ok {
			tt = &ipc.TensorTypes{Type: t.Type.String()}
			byType[t.Type] = tt
		}
		tt.Tensors++
		tt.Bytes += uint64(t.Size)
	}
	types := make([]ipc.TensorTypes, 0, len(byType))
	for _, tt := range byType {
		types = append(types, *tt)
	}
	sort.Slice(types, func(i, j int) bool {
		if types[i].Bytes != types[j].Bytes {
			return types[i].Bytes > types[j].Bytes
		}
		return types[i].Type < types[j].Type
	})
	return params, types
}

// CheckName refuses anything but a plain file stem, so that no request can
// name a path outside the models directories.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > 255:
		return fmt.Errorf("%w: longer than 255 bytes", ErrBadName)
	case name == "." || name == "..", strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("%w %q: a model is named by its file stem, not a path", ErrBadName, name)
	}
	return nil
}

// Lookup returns the file for name.
func (r *Registry) Lookup(name string) (ModelFile, error) {
	if err := CheckName(name); err != nil {
		return ModelFile{}, err
	}
	r.mu.RLock()
	m, ok := r.models[name]
	r.mu.RUnlock()
	if !ok {
		return ModelFile{}, fmt.Errorf("%w %q (not in %s; `vkctl models` lists what is there)", ErrUnknownModel, name, strings.Join(r.dirs, ", "))
	}
	return m, nil
}

// List returns every model, sorted by name.
func (r *Registry) List() []ModelFile {
	r.mu.RLock()
	out := make([]ModelFile, 0, len(r.models))
	for _, m := range r.models {
		out = append(out, m)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
