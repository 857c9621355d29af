package nomicbert

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
)

// TestRefuseUnimplemented: variants of nomic-bert.gguf asking for math
// this package does not implement are refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	src, err := gguf.Open(testmodels.Model(t, "arch/nomic-bert.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tests := []struct {
		name string
		edit func(*gguf.Builder) error
		want string // in the error
	}{
		{"unknown key", func(b *gguf.Builder) error {
			b.SetUint32("nomic-bert.expert_count", 8)
			return nil
		}, "nomic-bert.expert_count"},
		{"qkv bias", func(b *gguf.Builder) error {
			return b.AddTensor("blk.0.attn_qkv.bias", gguf.TypeF32, []uint64{384}, make([]byte, 384*4))
		}, `"blk.0.attn_qkv.bias"`},
		{"rank pooling", func(b *gguf.Builder) error {
			b.SetUint32("nomic-bert.pooling_type", 4)
			return nil
		}, "pooling type 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := gguf.FromFile(src)
			if err := tc.edit(b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := b.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err = Load(f); !errors.Is(err, model.ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrUnsupported naming %s", err, tc.want)
			}
		})
	}
}
