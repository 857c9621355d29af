// Package testmodels finds the shared test models and reference outputs.
//
// Models live in ../shared/models beside the repository (see
// ../shared/models/SOURCES.md); VKINFER_SHARED overrides the shared folder.
// Under CI (CI=true) a missing file fails the test; elsewhere it skips.
package testmodels

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// SharedDir returns the shared folder: $VKINFER_SHARED, or ../shared
// relative to the repository root.
func SharedDir() string {
	if d := os.Getenv("VKINFER_SHARED"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	return filepath.Join(root, "..", "shared")
}

// Path returns the path of rel under the shared folder (e.g.
// "models/llama/stories260K.gguf"), failing the test in CI and skipping it
// elsewhere when the file is absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared test file missing in CI: %v", err)
		}
		t.Skipf("shared test file missing (set VKINFER_SHARED): %v", err)
	}
	return p
}

// Model returns the path of a model under shared/models, e.g.
// Model(t, "llama/stories260K.gguf").
func Model(t testing.TB, rel string) string {
	t.Helper()
	return Path(t, filepath.Join("models", rel))
}

// Reference returns the path of a reference file under shared/reference.
func Reference(t testing.TB, rel string) string {
	t.Helper()
	return Path(t, filepath.Join("reference", rel))
}
