package gemma

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/model"
)

// TestRefuseUnimplemented writes variants of gemma.gguf that ask for
// math this package does not implement; each is refused at load, by name.
func TestRefuseUnimplemented(t *testing.T) {
	src, err := gguf.Open(testmodels.Model(t, "arch/gemma.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tests := []struct {
		name string
		edit func(*gguf.Builder) error
		want string // in the error
	}{
		{"soft-cap (gemma2's)", func(b *gguf.Builder) error {
			b.SetFloat32("gemma.final_logit_softcapping", 30)
			return nil
		}, "gemma.final_logit_softcapping"},
		{"rope scaling", func(b *gguf.Builder) error {
			b.SetString("gemma.rope.scaling.type", "linear")
			return nil
		}, "gemma.rope.scaling.type"},
		{"value length", func(b *gguf.Builder) error {
			b.SetUint32("gemma.attention.value_length", 32)
			return nil
		}, "value_length 32"},
		{"untied output", func(b *gguf.Builder) error {
			return b.AddTensor("output.weight", gguf.TypeF32, []uint64{128, 512}, make([]byte, 128*512*4))
		}, `"output.weight"`},
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
