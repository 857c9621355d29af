package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/testmodels"
	"github.com/vkinfer/vkinfer/runner"
	"github.com/vkinfer/vkinfer/sampling"
)

// TestTruncatedMidRequestFaults: a model file cut short while a request
// reads its mapping (the pool's staleness check before the request cannot
// see it coming) fails the request with an error that names the file,
// instead of a SIGBUS that kills the daemon.
func TestTruncatedMidRequestFaults(t *testing.T) {
	data, err := os.ReadFile(testmodels.Model(t, "llama/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "stories260K.gguf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(dir)
	if err := reg.Rescan(); err != nil {
		t.Fatal(err)
	}
	l := &textLoader{files: &files{reg: reg, backend: &backend{}, m: map[string]*openFile{}}, cfg: Config{ContextSize: 64, BatchSize: 32}}
	g, err := l.Open(context.Background(), "stories260K")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(context.Background(), engine.Request{Prompt: "Once upon a time", Params: sampling.Greedy(), MaxTokens: 4}, func(engine.Chunk) error { return nil })
	if !errors.Is(err, runner.ErrFault) || !strings.Contains(err.Error(), path) {
		t.Errorf("generation over a truncated mapping: %v, want runner.ErrFault naming the file", err)
	}
}
