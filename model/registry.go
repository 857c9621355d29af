package model

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/vkinfer/vkinfer/compute"
	"github.com/vkinfer/vkinfer/gguf"
)

// ErrArch is returned for a general.architecture no package registered.
var ErrArch = errors.New("model: architecture not implemented")

// Capability is a kind of request a model serves.
type Capability string

// Capabilities.
const (
	// Generate: a prompt in, a stream of tokens out.
	Generate Capability = "generate"
	// Embed: texts in, one vector each out.
	Embed Capability = "embed"
)

// Memory is what one session of a model takes, for the pool's budget.
type Memory struct {
	Weights uint64 // tensor data, shared by all sessions of the model
	KVCache uint64 // keys and values of every layer at every position
	Scratch uint64 // activations of one batch, attention scores, logits
}

// Arch is an architecture as its package registers it: what it serves and
// how its models load. The daemon and the tools hold no per-architecture
// code; they go through the registry.
type Arch struct {
	// Names are the general.architecture values it runs.
	Names []string
	// Capabilities lists what its models serve; a decoder that also
	// embeds (pooling its hidden states) lists both.
	Capabilities []Capability
	// Load reads the configuration, checks every tensor and metadata key
	// (refusing, by name, what is not implemented) and returns the model,
	// whose tensors are views into f.
	Load func(f *gguf.File) (Loaded, error)
}

// Serves reports whether the architecture's models serve c.
func (a *Arch) Serves(c Capability) bool { return slices.Contains(a.Capabilities, c) }

// Loaded is a model of a registered architecture.
type Loaded interface {
	// Vocab is the number of token ids; ContextLength the context the
	// model was trained for (the positions it knows).
	Vocab() int
	ContextLength() int
	// Memory is what one session with a context of ctx positions and
	// batches of batch tokens takes, with kvBytes bytes per cached value.
	Memory(ctx, batch, kvBytes int) Memory
	// Build writes the model's graph for the builder's batch shape: the
	// logits of the output tokens for a generator, every token's final
	// hidden state for an encoder.
	Build(b *compute.Builder) compute.Tensor
}

var (
	archMu sync.RWMutex
	arches = map[string]*Arch{}
)

// Register adds an architecture; a package calls it from its init. Names
// registered twice are a programming error, reported by panicking at
// start-up.
func Register(a Arch) {
	archMu.Lock()
	defer archMu.Unlock()
	for _, name := range a.Names {
		if _, dup := arches[name]; dup {
			panic(fmt.Sprintf("model: architecture %q registered twice", name))
		}
		arches[name] = &a
	}
}

// Lookup returns the registered architecture of that general.architecture
// value.
func Lookup(name string) (*Arch, bool) {
	archMu.RLock()
	defer archMu.RUnlock()
	a, ok := arches[name]
	return a, ok
}

// Archs returns the registered general.architecture values, sorted.
func Archs() []string {
	archMu.RLock()
	defer archMu.RUnlock()
	names := make([]string, 0, len(arches))
	for n := range arches {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open loads f's model through its registered architecture.
func Open(f *gguf.File) (*Arch, Loaded, error) {
	name, err := f.String("general.architecture")
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	a, ok := Lookup(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q (implemented: %v)", ErrArch, name, Archs())
	}
	m, err := a.Load(f)
	if err != nil {
		return nil, nil, err
	}
	return a, m, nil
}

// TensorBytes returns the bytes of all of f's tensor data.
func TensorBytes(f *gguf.File) uint64 {
	var n uint64
	for i := range f.Tensors {
		n += uint64(f.Tensors[i].Size)
	}
	return n
}

// Decoder is the shape of a decoder-only transformer, for its memory
// need: Activations are the float32 values one batch token keeps alive in
// a layer (residual, norms, projections, new keys and values, the FFN's
// hidden vectors), which differ a little between architectures.
type Decoder struct {
	Layers, Heads, KVWidth, Vocab int
	Activations                   int
}

// Memory is a decoder's need for a session of ctx positions, batches of
// batch tokens and kvBytes per cached value: the file's tensors, keys and
// values of every layer and position, and f32 scratch for a batch's
// activations, one token's attention scores per head and the logits.
func (d Decoder) Memory(f *gguf.File, ctx, batch, kvBytes int) Memory {
	batch = min(batch, ctx)
	return Memory{
		Weights: TensorBytes(f),
		KVCache: 2 * uint64(d.Layers) * uint64(ctx) * uint64(d.KVWidth) * uint64(kvBytes),
		Scratch: 4 * (uint64(batch)*uint64(d.Activations) + uint64(d.Heads)*uint64(ctx) + uint64(d.Vocab)),
	}
}

// DecoderModel gives a decoder architecture's Model the model.Loaded
// methods but Build, from its file and shape: an architecture embeds it.
type DecoderModel struct {
	File    *gguf.File
	Shape   Decoder
	Context int // the trained context (positions)
}

// Vocab implements Loaded.
func (d *DecoderModel) Vocab() int { return d.Shape.Vocab }

// ContextLength implements Loaded.
func (d *DecoderModel) ContextLength() int { return d.Context }

// Memory implements Loaded.
func (d *DecoderModel) Memory(ctx, batch, kvBytes int) Memory {
	return d.Shape.Memory(d.File, ctx, batch, kvBytes)
}
