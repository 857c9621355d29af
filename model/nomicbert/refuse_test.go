package nomicbert

import (
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/archtest"
)

// TestRefuseUnimplemented: variants of nomic-bert.gguf asking for math
// this package does not implement are refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	archtest.CheckRefused(t, "arch/nomic-bert.gguf", func(f *gguf.File) error { _, err := Load(f); return err }, []archtest.Refusal{
		{Name: "unknown key", Edit: func(b *gguf.Builder) error {
			b.SetUint32("nomic-bert.expert_count", 8)
			return nil
		}, Want: "nomic-bert.expert_count"},
		{Name: "qkv bias", Edit: func(b *gguf.Builder) error {
			return b.AddTensor("blk.0.attn_qkv.bias", gguf.TypeF32, []uint64{384}, make([]byte, 384*4))
		}, Want: `"blk.0.attn_qkv.bias"`},
		{Name: "rank pooling", Edit: func(b *gguf.Builder) error {
			b.SetUint32("nomic-bert.pooling_type", 4)
			return nil
		}, Want: "pooling type 4"},
	})
}
