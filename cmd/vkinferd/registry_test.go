package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write := func(p string) {
		if err := os.WriteFile(p, []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(a, "tiny.gguf"))
	write(filepath.Join(a, "notes.txt"))
	write(filepath.Join(b, "tiny.gguf")) // shadowed by a's
	write(filepath.Join(b, "other.gguf"))
	if err := os.Mkdir(filepath.Join(b, "dir.gguf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(b, "other.gguf"), filepath.Join(a, "linked.gguf")); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(a, b, filepath.Join(a, "missing"))
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range r.List() {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, ","); got != "linked,other,tiny" {
		t.Errorf("names %s", got)
	}
	if m, err := r.Lookup("tiny"); err != nil || m.Path != filepath.Join(a, "tiny.gguf") {
		t.Errorf("Lookup(tiny) = %+v, %v", m, err)
	}
	if m, _ := r.Lookup("tiny"); m.Arch != "" || m.Refused == nil {
		t.Errorf("a 4-byte file read as architecture %q (err %v)", m.Arch, m.Refused)
	}
	for _, bad := range []string{"../tiny", "/etc/passwd", "a/b", "..", "", "x\x00y"} {
		if _, err := r.Lookup(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Lookup(%q) = %v, want ErrBadName", bad, err)
		}
	}
	if _, err := r.Lookup("nope"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Lookup(nope) = %v", err)
	}

	// A rescan sees removals; an unreadable dir keeps the old map.
	if err := os.Remove(filepath.Join(b, "other.gguf")); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("other"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("after removal Lookup(other) = %v", err)
	}
	// An unreadable dir fails the rescan and keeps the old map. Root reads
	// a mode-0 dir, so a file in the dir's place stands in for it there.
	unreadable := func() error { return os.Chmod(a, 0) }
	if os.Getuid() == 0 {
		unreadable = func() error {
			if err := os.Rename(a, a+".away"); err != nil {
				return err
			}
			return os.WriteFile(a, []byte("x"), 0o644)
		}
	}
	if err := unreadable(); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(a, 0o755)
	if err := r.Rescan(); err == nil {
		t.Error("Rescan of an unreadable dir succeeded")
	}
	if _, err := r.Lookup("tiny"); err != nil {
		t.Errorf("old map lost: %v", err)
	}
}
