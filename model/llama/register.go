package llama

import (
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

func init() {
	names := make([]string, 0, len(ropeTypes))
	for name := range ropeTypes {
		names = append(names, name)
	}
	model.Register(model.Arch{
		Names:        names,
		Capabilities: []model.Capability{model.Generate, model.Embed},
		Load:         func(f *gguf.File) (model.Loaded, error) { return Load(f) },
	})
}

// Vocab implements model.Loaded.
func (m *Model) Vocab() int { return m.Config.VocabSize }

// ContextLength implements model.Loaded.
func (m *Model) ContextLength() int { return m.Config.ContextLength }

// Memory implements model.Loaded. Weights are exact; the scratch assumes
// f32 activations for the batch and one token's attention scores at a
// time.
func (m *Model) Memory(ctx, batch, kvBytes int) model.Memory {
	c := m.Config
	// Per batch token: residual and normed input, attention output and
	// projection (4·embd), new keys and values (2·kvDim), the two FFN
	// hidden vectors (2·ffn).
	return model.Decoder{Layers: c.Layers, Heads: c.Heads, KVWidth: c.KVDim(), Vocab: c.VocabSize,
		Activations: 4*c.Dim + 2*c.KVDim() + 2*c.FFN}.Memory(m.File, ctx, batch, kvBytes)
}
