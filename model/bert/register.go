package bert

import (
	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/model"
)

func init() {
	model.Register(model.Arch{
		Names:        []string{Arch},
		Capabilities: []model.Capability{model.Embed},
		Load:         func(f *gguf.File) (model.Loaded, error) { return Load(f) },
	})
}

var _ model.TextEmbedder = (*Model)(nil)

// Vocab implements model.Loaded.
func (m *Model) Vocab() int { return m.Config.Vocab }

// ContextLength implements model.Loaded.
func (m *Model) ContextLength() int { return m.Config.ContextLength }

// Memory implements model.Loaded for an encoder whose passes hold up to
// batch tokens: its cache keeps every token's keys and values in f32
// (Build keeps the cache unrounded), and a pass holds a few rows of the
// widest layer per token, plus attention scores per head.
func (m *Model) Memory(_, batch, _ int) model.Memory {
	c := m.Config
	return model.Memory{
		Weights: model.TensorBytes(m.File),
		KVCache: uint64(batch) * uint64(2*c.Blocks*c.Embd) * 4,
		Scratch: uint64(batch) * uint64(4*c.FFN+8*c.Embd+c.Heads*c.ContextLength) * 4,
	}
}
