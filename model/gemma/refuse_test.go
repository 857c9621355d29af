package gemma

import (
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
)

// TestRefuseUnimplemented writes variants of gemma.gguf that ask for
// math this package does not implement; each is refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	archtest.CheckRefused(t, "arch/gemma.gguf", func(f *gguf.File) error { _, err := Load(f); return err }, []archtest.Refusal{
		{Name: "soft-cap (gemma2's)", Edit: func(b *gguf.Builder) error {
			b.SetFloat32("gemma.final_logit_softcapping", 30)
			return nil
		}, Want: "gemma.final_logit_softcapping"},
		{Name: "rope scaling", Edit: func(b *gguf.Builder) error {
			b.SetString("gemma.rope.scaling.type", "linear")
			return nil
		}, Want: "gemma.rope.scaling.type"},
		{Name: "value length", Edit: func(b *gguf.Builder) error {
			b.SetUint32("gemma.attention.value_length", 32)
			return nil
		}, Want: "value_length 32"},
		{Name: "untied output", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("output.weight", gguf.TypeF32, []uint64{128, 512}, make([]byte, 128*512*4))
		}, Want: `"output.weight"`},
	})
}
