// Package testgguf writes GGUF files for tests: a model's variant, or
// tensors made up for one op.
package testgguf

import (
	"path/filepath"
	"testing"

	"github.com/vkinfer/vkinfer/gguf"
)

// Write writes b to a file in the test's temporary directory and opens it;
// the file is closed when the test ends.
func Write(t testing.TB, b *gguf.Builder) *gguf.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.gguf")
	if err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
