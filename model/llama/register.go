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
	batch = min(batch, ctx)
	embd, kvDim, ffn := uint64(c.Dim), uint64(c.KVDim()), uint64(c.FFN)
	return model.Memory{
		Weights: model.TensorBytes(m.File),
		KVCache: 2 * uint64(c.Layers) * uint64(ctx) * kvDim * uint64(kvBytes),
		// Per batch token: residual and normed input, attention output and
		// projection (4·embd), new keys and values (2·kvDim), the two FFN
		// hidden vectors (2·ffn); then one token's attention scores and the
		// logits.
		Scratch: 4 * (uint64(batch)*(4*embd+2*kvDim+2*ffn) + uint64(c.Heads)*uint64(ctx) + uint64(c.VocabSize)),
	}
}
