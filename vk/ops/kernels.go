package ops

import (
	"fmt"
	"sync"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/shaders"
	"github.com/vkinfer/vkinfer/vk"
)

// Kernels builds and caches the pipelines of one device.
type Kernels struct {
	Dev *vk.Device
	// WG is the workgroup size of the reducing shaders (a power of two).
	WG uint32
	// AttentionWG is the attention shader's workgroup size (a power of
	// two). On CPU devices it is one SIMD vector (the subgroup): there a
	// barrier switches between a workgroup's vectors, and a prompt's
	// thousands of (row, head) workgroups each do little work.
	AttentionWG uint32
	// AttentionTile is the key positions of the attention shader's tile,
	// a multiple of AttentionWG: 8 of them, the best or level with it
	// of 1 to 16 on lavapipe (BenchmarkAttention); a tile takes 8 bytes
	// of shared memory a position.
	AttentionTile uint32
	// AttentionKept is the longest row whose scores the attention
	// shader keeps in shared memory between its two passes over an f16
	// cache, which spares the second computing them (8% of the shader's
	// time on lavapipe at 1,024 positions): 4,096, in at most half the
	// device's shared memory.
	AttentionKept uint32
	// Subgroups selects subgroup operations (arithmetic for reductions,
	// broadcasts in matvec: vk.Info.SubgroupOps); false takes
	// the shaders' builds without subgroup operations (shared-memory
	// reductions), whose SPIR-V a device without subgroups accepts.
	Subgroups bool
	// Tiles are the matmul shader's tile sizes (TilesFor the device).
	Tiles Tiles
	// TiledFrom is the smallest batch whose products run on the tiled
	// matmul shader instead of matvec, where that keeps matvec's order
	// (see BindProduct): Tiles.TiledFrom. 0 turns the matmul shader off.
	TiledFrom int

	mu    sync.Mutex
	pipes map[pipeKey]*vk.Pipeline
}

type pipeKey struct {
	shader string
	typ    gguf.Type
	tiles  Tiles  // matmul's
	dims   uint32 // attention's head dimensions (DIMS)
	flash  bool   // attention's FLASH
}

// shape of each shader: bindings and push-constant bytes.
var layouts = map[string]struct {
	bindings int
	push     uint32
}{
	"matvec":     {4, 9 * 4},
	"matmul":     {4, 8 * 4},
	"rms_norm":   {3, 5 * 4},
	"rope":       {2, 8 * 4},
	"attention":  {5, 12 * 4},
	"store_kv":   {5, 2 * 4},
	"layer_norm": {4, 3 * 4},
	"gelu":       {1, 4},
	"silu_mul":   {2, 4},
	"add":        {2, 4},
	"get_rows":   {3, 5 * 4},
	"sample":     {5, 16 * 4},
	"quantize":   {2, 4 * 4},
}

// New returns kernels for d: workgroups of 64 (or the device's maximum),
// subgroup reductions where the device offers them.
func New(d *vk.Device) *Kernels {
	k := &Kernels{Dev: d, WG: min(64, d.Info.MaxWorkgroupInvocations), Subgroups: d.Info.SubgroupOps,
		Tiles: TilesFor(d.Info), pipes: map[pipeKey]*vk.Pipeline{}}
	k.TiledFrom = k.Tiles.TiledFrom()
	k.AttentionWG = k.WG
	if sg := d.Info.SubgroupSize; d.Info.Type == vk.CPU && sg > 0 && sg < k.WG {
		k.AttentionWG = sg
	}
	k.AttentionTile = 8 * k.AttentionWG
	k.AttentionKept = min(4096, d.Info.MaxSharedMemory/2/4)
	return k
}

// Supported reports whether the shaders can read weights of type t.
func Supported(t gguf.Type) bool {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1,
		gguf.TypeQ8_0, gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K:
		return true
	case gguf.TypeIQ4_NL, gguf.TypeIQ4_XS:
		return true
	}
	return false
}

// pipeline returns the pipeline of shader for weight type t (ignored by
// shaders that read no weights), building it on first use.
func (k *Kernels) pipeline(shader string, t gguf.Type) (*vk.Pipeline, error) {
	key := pipeKey{shader: shader, typ: t}
	if shader == "matmul" {
		key.tiles = k.Tiles
	}
	return k.pipelineOf(key)
}

// attention returns the attention pipeline over a cache of type t whose
// heads have at most dims dimensions, flash or not.
func (k *Kernels) attention(t gguf.Type, dims uint32, flash bool) (*vk.Pipeline, error) {
	return k.pipelineOf(pipeKey{shader: "attention", typ: t, dims: dims, flash: flash})
}

// pipelineOf returns the pipeline of key, building it on first use.
func (k *Kernels) pipelineOf(key pipeKey) (*vk.Pipeline, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	shader, t := key.shader, key.typ
	if p := k.pipes[key]; p != nil {
		return p, nil
	}
	l, ok := layouts[shader]
	if !ok {
		return nil, fmt.Errorf("ops: unknown shader %q", shader)
	}
	code, err := shaders.SPIRV(shader, k.Subgroups)
	if err != nil {
		return nil, err
	}
	var spec []uint32
	switch shader {
	case "matvec":
		spec = []uint32{k.WG, uint32(t)}
	case "matmul":
		tl := k.Tiles
		spec = []uint32{tl.WG(), uint32(t), tl.BM, tl.BN, tl.TM, tl.TN, tl.KB}
	case "rms_norm", "layer_norm":
		spec = []uint32{k.WG}
	case "attention":
		// The "type" is the KV cache's: F16 rounds as llama.cpp's f16
		// cache (HALF in the shader), and each type has its reads (KV).
		half := uint32(0)
		if t == gguf.TypeF16 {
			half = 1
		}
		// SOLO: a workgroup of one subgroup shares without barriers and
		// holds the query in registers; on CPU devices only, where it was
		// measured (a GPU's wave of 64 would hold DIMS registers an
		// invocation).
		solo := uint32(0)
		if k.Subgroups && k.Dev.Info.Type == vk.CPU && k.AttentionWG <= k.Dev.Info.SubgroupSize {
			solo = 1
		}
		// FLASH turns HALF's two passes, and the scores KEPT between
		// them, off.
		flash, kept := uint32(0), max(1, k.AttentionKept*half)
		if key.flash {
			flash, kept = 1, 1
		}
		spec = []uint32{k.AttentionWG, half, kvCode(t), k.AttentionTile, key.dims, solo, kept, flash}
	case "store_kv":
		spec = []uint32{kvCode(t)}
	case "sample":
		spec = []uint32{sampleWG}
	case "get_rows":
		spec = []uint32{uint32(t)}
	}
	name := shader
	if shader == "matvec" || shader == "matmul" || shader == "get_rows" {
		name += "_" + t.String()
	}
	if !k.Subgroups {
		name += "_nosg"
	}
	p, err := k.Dev.NewPipeline(name, code, l.bindings, l.push, spec...)
	if err != nil {
		return nil, err
	}
	k.pipes[key] = p
	return p, nil
}

// Close destroys every pipeline.
func (k *Kernels) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, p := range k.pipes {
		p.Close()
		delete(k.pipes, key)
	}
}

// minGroupWork is the fewest multiply-adds a matvec workgroup is given
// (per input) when rows allow: below it, a workgroup's fixed cost
// dominates (on CPU devices each costs microseconds).
const minGroupWork = 16384

// matvecRows is how many rows a matvec workgroup computes for rows of
// cols elements: with subgroup reductions, a multiple of the subgroups
// in a workgroup; without, one.
func (k *Kernels) matvecRows(cols int) uint32 {
	if !k.Subgroups || k.Dev.Info.SubgroupSize == 0 {
		return 1
	}
	sg := max(k.WG/k.Dev.Info.SubgroupSize, 1)
	per := max(minGroupWork/(sg*uint32(cols)), 1)
	return sg * per
}

// shortRows says whether matvec gives each invocation whole rows instead
// of splitting rows over a subgroup: on CPU devices, whose invocations
// are SIMD lanes, and for rows too short to split.
func (k *Kernels) shortRows(cols int) bool {
	return k.Dev.Info.Type == vk.CPU || cols <= 64
}

// groups splits n workgroups into x, y dispatch dimensions within the
// device's per-dimension limit; shaders rebuild the index as x + y*X.
func (k *Kernels) groups(n uint32) (uint32, uint32) {
	limit := max(k.Dev.Info.MaxWorkgroupCount, 1)
	if n <= limit {
		return n, 1
	}
	y := (n + limit - 1) / limit
	return (n + y - 1) / y, y
}
