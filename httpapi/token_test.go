package httpapi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestEnsureToken: the first call makes a 0600 file of 64 hex digits,
// later ones reuse it; a file others can read is refused.
func TestEnsureToken(t *testing.T) {
	path := TokenPath(filepath.Join(t.TempDir(), "vkinferd.sock"))
	if _, err := ReadToken(path); !errors.Is(err, ErrNoToken) {
		t.Fatalf("ReadToken before: %v", err)
	}
	tok, err := EnsureToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("EnsureToken: %q, %v", tok, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", st, err)
	}
	if again, err := EnsureToken(path); again != tok || err != nil {
		t.Errorf("second EnsureToken: %q, %v; want the same token", again, err)
	}
	os.Chmod(path, 0o640)
	if _, err := EnsureToken(path); err == nil {
		t.Error("a group-readable token file was accepted")
	}
}
