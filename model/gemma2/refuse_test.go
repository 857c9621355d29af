package gemma2

import (
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
)

// TestRefuseUnimplemented writes variants of gemma2.gguf that ask for
// math this package does not implement; each is refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	archtest.CheckRefused(t, "arch/gemma2.gguf", func(f *gguf.File) error { _, err := Load(f); return err }, []archtest.Refusal{
		{Name: "rope scaling", Edit: func(b *gguf.Builder) error {
			b.SetString("gemma2.rope.scaling.type", "linear")
			return nil
		}, Want: "gemma2.rope.scaling.type"},
		{Name: "query scale of an unknown size", Edit: func(b *gguf.Builder) error {
			b.SetUint32("gemma2.block_count", 25)
			return nil
		}, Want: "block_count 25"},
		{Name: "value length", Edit: func(b *gguf.Builder) error {
			b.SetUint32("gemma2.attention.value_length", 16)
			return nil
		}, Want: "value_length 16"},
		{Name: "untied output", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("output.weight", gguf.TypeF32, []uint64{128, 512}, make([]byte, 128*512*4))
		}, Want: `"output.weight"`},
	})
}
