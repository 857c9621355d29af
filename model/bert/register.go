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

// Vocab implements model.Loaded.
func (m *Model) Vocab() int { return m.Config.Vocab }

// ContextLength implements model.Loaded.
func (m *Model) ContextLength() int { return m.Config.ContextLength }

// Memory implements model.Loaded: an encoder keeps no cache between
// requests; a pass of up to batch tokens holds a few rows of the widest
// layer per token, plus attention scores per head.
func (m *Model) Memory(_, batch, _ int) model.Memory {
	c := m.Config
	return model.Memory{
		Weights: model.TensorBytes(m.File),
		Scratch: uint64(batch) * uint64(4*c.FFN+8*c.Embd+c.Heads*c.ContextLength) * 4,
	}
}
